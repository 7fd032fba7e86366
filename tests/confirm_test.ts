import assert from "node:assert/strict";
import { confirmFresh, sameActions } from "../lib/core/plan/confirm.ts";
import { plan } from "../lib/core/plan/planner.ts";
import type { Plan, PlanInput } from "../lib/core/plan/plan.ts";

const uuid = (n: number): string =>
  `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

/** Snapshots 1..n, one a day in May; the source changed since (ctransid 100). */
function input(n: number, ctransid = 100): PlanInput {
  const snapshots = Array.from({ length: n }, (_, i) => ({
    uuid: uuid(i + 1),
    ctransid: i + 1,
    ctime: Temporal.Instant.from(
      `2024-05-${String(i + 1).padStart(2, "0")}T10:00:00Z`,
    ),
    path: `/snaps/src.2024-05-${
      String(i + 1).padStart(2, "0")
    }T10:00:00+00:00.${i + 1}`,
  }));
  return {
    timeZone: "UTC",
    now: Temporal.Instant.from("2024-05-20T12:00:00Z"),
    sources: [{
      path: "/src",
      name: "src",
      uuid: "ffffffff-0000-4000-8000-000000000000",
      ctransid,
      ctime: Temporal.Instant.from("2024-05-20T11:00:00Z"),
      snapshotDir: "/snaps",
      snapshots,
      remotes: [{ id: "r", preserve: "3d", keySuffixes: [], backups: [] }],
    }],
  };
}

/** A clock that each answer moves on by its delay. */
function scripted(answers: { after: number; yes: boolean }[]) {
  let t = 0;
  const asked: Plan[] = [];
  return {
    asked,
    clock: () => Temporal.Instant.fromEpochMilliseconds(t),
    confirm: (p: Plan) => {
      asked.push(p);
      const a = answers.shift();
      assert.ok(a, "asked once too often");
      t += a.after;
      return Promise.resolve(a.yes);
    },
  };
}

Deno.test("a quick yes carries the plan out as shown, without planning again", async () => {
  const first = plan(input(10));
  const s = scripted([{ after: 59_000, yes: true }]);
  const got = await confirmFresh(first, {
    ...s,
    replan: () => assert.fail("planned again"),
    showChanged: () => assert.fail("shown again"),
  });
  assert.equal(got, first);
});

Deno.test("a yes after more than a minute plans again; an unchanged plan runs without asking again", async () => {
  const first = plan(input(10));
  const s = scripted([{ after: 61_000, yes: true }]);
  let replans = 0;
  const fresh = plan(input(10, 101));
  const got = await confirmFresh(first, {
    ...s,
    replan: () => (replans++, Promise.resolve(fresh)),
    showChanged: () => assert.fail("shown again"),
  });
  assert.equal(replans, 1);
  assert.equal(got, fresh, "a write to the source in between is no change");
  assert.equal(s.asked.length, 1);
});

Deno.test("a plan that changed while the user decided is shown and asked again", async () => {
  const first = plan(input(10));
  // Meanwhile someone destroyed snapshot 9 by hand: the plan destroys other things now.
  const changed = input(10);
  changed.sources[0].snapshots.splice(8, 1);
  const second = plan(changed);
  assert.ok(!sameActions(first, second));
  const shown: Plan[] = [];
  const s = scripted([{ after: 5 * 60_000, yes: true }, {
    after: 10_000,
    yes: true,
  }]);
  const got = await confirmFresh(first, {
    ...s,
    replan: () => Promise.resolve(second),
    showChanged: (p) => shown.push(p),
  });
  assert.deepEqual(shown, [second]);
  assert.deepEqual(s.asked, [first, second]);
  assert.equal(got, second);

  const no = scripted([{ after: 5 * 60_000, yes: true }, {
    after: 1_000,
    yes: false,
  }]);
  assert.equal(
    await confirmFresh(first, {
      ...no,
      replan: () => Promise.resolve(second),
      showChanged: () => {},
    }),
    null,
  );
});

Deno.test("a no is final, however long it took", async () => {
  const s = scripted([{ after: 10 * 60_000, yes: false }]);
  assert.equal(
    await confirmFresh(plan(input(3)), {
      ...s,
      replan: () => assert.fail("planned again"),
      showChanged: () => assert.fail("shown"),
    }),
    null,
  );
});
