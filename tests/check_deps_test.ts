import assert from "node:assert/strict";
import { join } from "node:path";
import { checkDependencies } from "../scripts/check_deps.ts";

function _tree(files: Record<string, string>): string {
  const root = Deno.makeTempDirSync();
  for (const [p, src] of Object.entries(files)) {
    Deno.mkdirSync(join(root, p, ".."), { recursive: true });
    Deno.writeTextFileSync(join(root, p), src);
  }
  return root;
}

Deno.test("dependency check passes on this repository", () => {
  assert.deepEqual(
    checkDependencies(new URL("..", import.meta.url).pathname),
    [],
  );
});

Deno.test("dependency check flags an import from core into app, and a cycle", () => {
  const root = _tree({
    "mod.ts": `export * from "./lib/app/a.ts";`,
    "cli.ts": "",
    "lib/app/a.ts": `import "../core/b.ts";`,
    "lib/core/b.ts":
      `import { x } from "../app/a.ts";\n/** import "../app/a.ts" in a comment is fine */`,
  });
  try {
    const problems = checkDependencies(root);
    assert.ok(
      problems.some((p) => p.startsWith("lib/core/b.ts imports lib/app/a.ts")),
      problems.join("\n"),
    );
    assert.ok(
      problems.some((p) => p.startsWith("import cycle:")),
      problems.join("\n"),
    );
    assert.equal(problems.length, 2);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
