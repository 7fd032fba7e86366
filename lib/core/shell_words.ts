/**
 * Splitting one command line into words as a POSIX shell would, without
 * running anything: `--pipe-through 'age -d -i "/keys/my key.txt"'` gives
 * one argv. Quotes and backslashes are honoured; nothing is expanded
 * (no variables, globs or `~`), so the words are exactly what was written.
 *
 * @module
 */

/**
 * Splits `text` into words: whitespace separates words; `'...'` keeps
 * everything literally; `"..."` keeps everything but `\"`, `\\`, `\$` and
 * `` \` `` (a backslash before anything else stays); outside quotes a
 * backslash keeps the next character. Adjacent quoted and unquoted parts
 * form one word; `""` is an empty word.
 *
 * @param text One command line.
 * @returns Its words.
 * @throws {SyntaxError} On an unterminated quote or a trailing backslash.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitShellWords } from "./shell_words.ts";
 * assert.deepEqual(
 *   splitShellWords(`age -d -i "/keys/my key.txt"`),
 *   ["age", "-d", "-i", "/keys/my key.txt"],
 * );
 * assert.deepEqual(splitShellWords(`a 'b c'd "" e\\ f`), ["a", "b cd", "", "e f"]);
 * ```
 */
export function splitShellWords(text: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === " " || c === "\t" || c === "\n") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      continue;
    }
    inWord = true;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw _unterminated("'", text);
      word += text.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (
          text[j] === "\\" && j + 1 < text.length &&
          '"\\$`'.includes(text[j + 1])
        ) {
          j++;
        }
        word += text[j];
      }
      if (j >= text.length) throw _unterminated('"', text);
      i = j;
    } else if (c === "\\") {
      if (i + 1 >= text.length) {
        throw new SyntaxError(
          `${
            JSON.stringify(text)
          } ends with a backslash: quote it ('\\\\') or remove it`,
        );
      }
      word += text[++i];
    } else {
      word += c;
    }
  }
  if (inWord) words.push(word);
  return words;
}

function _unterminated(quote: string, text: string): SyntaxError {
  return new SyntaxError(
    `${JSON.stringify(text)} has an unterminated ${quote}: close the quote`,
  );
}

/**
 * The inverse of {@link splitShellWords} for messages: `argv` as one command
 * line, each word that holds anything but plain characters in single quotes.
 *
 * @param argv The words.
 * @returns One line a shell splits back into `argv`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { joinShellWords } from "./shell_words.ts";
 * assert.equal(joinShellWords(["age", "-i", "my key"]), "age -i 'my key'");
 * ```
 */
export function joinShellWords(argv: readonly string[]): string {
  return argv.map((a) =>
    /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`
  ).join(" ");
}
