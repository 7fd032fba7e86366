import assert from "node:assert/strict";
import { plan } from "../lib/core/plan/planner.ts";
import { renderPlan } from "../lib/core/plan/preview.ts";
import { simulate } from "../lib/core/plan/simulate.ts";
import {
  clockSkew,
  clockSkewMessage,
  hasMassDeletion,
  massDeletionMessage,
} from "../lib/core/plan/guards.ts";
import type { PlanInput } from "../lib/core/plan/plan.ts";

const POLICY = "1y 3m 30d 24h";

/** The inventory after `days` of hourly runs under POLICY, ending at `end`. */
function steadyState(end: string, days: number): PlanInput {
  let last: PlanInput | undefined;
  const stop = Temporal.Instant.from(end);
  simulate({
    policy: POLICY,
    timeZone: "UTC",
    start: stop.subtract({ hours: 24 * days }),
    end: stop,
    every: Temporal.Duration.from({ hours: 1 }),
    onRun: (after) => last = after,
  });
  assert.ok(last);
  return last;
}

Deno.test("hourly runs under 1y 3m 30d 24h never trip the mass-deletion guard", () => {
  const stop = Temporal.Instant.from("2024-06-30T23:00:00Z");
  simulate({
    policy: POLICY,
    timeZone: "UTC",
    start: stop.subtract({ hours: 24 * 120 }),
    end: stop,
    every: Temporal.Duration.from({ hours: 1 }),
    onRun: (_, executed) =>
      assert.ok(
        !hasMassDeletion(executed),
        JSON.stringify(executed.sources[0].massDeletions),
      ),
  });
});

Deno.test("the empty policy's steady state (a new full, the old one deleted) is no mass deletion", () => {
  simulate({
    policy: "",
    timeZone: "UTC",
    start: Temporal.Instant.from("2024-06-01T00:00:00Z"),
    end: Temporal.Instant.from("2024-06-03T00:00:00Z"),
    every: Temporal.Duration.from({ hours: 1 }),
    onRun: (_, executed) => assert.ok(!hasMassDeletion(executed)),
  });
});

Deno.test("a run three years ahead would remove most of the tree: the guard names the counts and the flag", () => {
  const inp = steadyState("2024-06-30T23:00:00Z", 120);
  const before = inp.sources[0];
  const ahead = {
    ...inp,
    now: Temporal.Instant.from("2027-06-30T23:00:00Z"),
  };
  const p = plan(ahead);
  const sp = p.sources[0];
  assert.ok(hasMassDeletion(p));
  assert.deepEqual(sp.massDeletions, [
    {
      kind: "backups",
      remoteId: "remote",
      count: sp.deletes.length,
      total: before.remotes[0].backups.length,
    },
    {
      kind: "snapshots",
      count: sp.destroys.length,
      total: before.snapshots.length,
    },
  ]);
  assert.ok(sp.destroys.length > before.snapshots.length / 2);
  const msg = massDeletionMessage(p);
  assert.match(
    msg,
    new RegExp(
      `source /source would delete ${sp.deletes.length} of \\d+ backups in remote remote`,
    ),
  );
  assert.match(msg, /--allow-mass-delete/);
  assert.match(msg, /nothing was created or deleted/);
  const text = renderPlan(p);
  assert.match(
    text,
    /Mass-deletion guard: this run stops unless --allow-mass-delete is given/,
  );
  assert.match(
    text,
    new RegExp(`would destroy ${sp.destroys.length} of \\d+ snapshots`),
  );
  assert.match(
    renderPlan(p, { allowMassDelete: true }),
    /Mass deletion, allowed by --allow-mass-delete/,
  );
  // The ordinary next hour shows no guard.
  const next = plan({
    ...inp,
    now: Temporal.Instant.from("2024-07-01T00:00:00Z"),
  });
  assert.ok(!hasMassDeletion(next));
  assert.ok(!renderPlan(next).includes("Mass-deletion guard"));
});

Deno.test("destroying 2 snapshots of 3 is no mass deletion; 3 of 4 is", () => {
  const snaps = (n: number) =>
    Array.from({ length: n }, (_, i) => ({
      uuid: `00000000-0000-4000-8000-00000000000${i + 1}`,
      ctransid: i + 1,
      ctime: Temporal.Instant.from(`2024-05-0${i + 1}T10:00:00Z`),
      path: `/snaps/src.2024-05-0${i + 1}T10:00:00+00:00.${i + 1}`,
    }));
  const input = (n: number): PlanInput => ({
    timeZone: "UTC",
    now: Temporal.Instant.from("2024-05-09T12:00:00Z"),
    sources: [{
      path: "/src",
      name: "src",
      uuid: "ffffffff-0000-4000-8000-000000000000",
      ctransid: n,
      ctime: snaps(n)[n - 1].ctime,
      snapshotDir: "/snaps",
      snapshots: snaps(n),
      remotes: [],
    }],
  });
  // No remotes keep everything; with one remote and "" only the newest is kept.
  const withEmpty = (n: number) => {
    const i = input(n);
    i.sources[0].remotes = [{
      id: "r",
      preserve: "",
      keySuffixes: [],
      backups: [],
    }];
    return plan(i).sources[0];
  };
  assert.equal(withEmpty(3).destroys.length, 2);
  assert.deepEqual(withEmpty(3).massDeletions, []);
  assert.deepEqual(withEmpty(4).massDeletions, [{
    kind: "snapshots",
    count: 3,
    total: 4,
  }]);
});

Deno.test("the clock guard: behind the newest snapshot or backup by more than 10 minutes refuses, naming both and the fix", () => {
  const inp = steadyState("2024-06-30T23:00:00Z", 40);
  const at = (iso: string) => ({ ...inp, now: Temporal.Instant.from(iso) });
  assert.equal(clockSkew(at("2024-06-30T23:00:00Z")), null);
  assert.equal(clockSkew(at("2024-06-30T22:51:00Z")), null, "9 minutes");
  const back = clockSkew(at("2000-01-01T00:00:00Z"));
  assert.ok(back);
  assert.equal(back.newest.toString(), "2024-06-30T23:00:00Z");
  assert.match(back.what, /^\/snapshots\/source\.2024-06-30T23:00:00\+00:00\./);
  const msg = clockSkewMessage(back, "UTC");
  assert.match(
    msg,
    /^the clock reads 2000-01-01T00:00:00\+00:00, 24 years earlier than \/snapshots\/source\.2024-06-30T23:00:00\+00:00\.\d+ of source \/source/,
  );
  assert.match(msg, /timedatectl set-ntp true/);
  assert.match(msg, /nothing was created or deleted/);
  const day = clockSkew(at("2024-06-29T23:00:00Z"));
  assert.ok(day);
  assert.match(clockSkewMessage(day, "UTC"), /24 hours earlier/);
  // Backups count too: a remote written by a machine whose snapshots are gone.
  const onlyBackups = at("2024-06-29T23:00:00Z");
  onlyBackups.sources = [{ ...inp.sources[0], snapshots: [] }];
  const b = clockSkew(onlyBackups);
  assert.ok(b);
  assert.match(b.what, /^remote:source\.ctim2024-06-30T23:00:00\+00:00\./);
});
