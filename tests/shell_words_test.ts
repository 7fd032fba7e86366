import assert from "node:assert/strict";
import { splitShellWords } from "../lib/core/shell_words.ts";

Deno.test("shell words: quotes keep spaces, backslashes escape, nothing is expanded", () => {
  const cases: [string, string[]][] = [
    ["zstd -d", ["zstd", "-d"]],
    ["  zstd\t-d \n", ["zstd", "-d"]],
    [`age -d -i "/keys/my key.txt"`, ["age", "-d", "-i", "/keys/my key.txt"]],
    [`sh -c 'zstd -d | cat'`, ["sh", "-c", "zstd -d | cat"]],
    [`a'b'"c"d`, ["abcd"]],
    [`'' ""`, ["", ""]],
    [`e\\ f`, ["e f"]],
    [`"a \\"b\\" \\\\ \\$HOME \\x"`, [`a "b" \\ $HOME \\x`]],
    [`$HOME ~ *`, ["$HOME", "~", "*"]],
    [`'it'\\''s'`, ["it's"]],
    ["", []],
  ];
  for (const [text, words] of cases) {
    assert.deepEqual(splitShellWords(text), words, text);
  }
});

Deno.test("shell words: an unterminated quote or a trailing backslash is refused", () => {
  assert.throws(() => splitShellWords(`sh -c 'zstd`), /unterminated '/);
  assert.throws(() => splitShellWords(`a "b`), /unterminated "/);
  assert.throws(() => splitShellWords(`a \\`), /ends with a backslash/);
});
