// `npm run test:repeat [-- --runs N]`: the whole vitest suite N times in a row (10 by default),
// then the failures per test. Flakiness is measured, not guessed: the target is none in 10.
// Each run's JSON report goes to test-repeat/run-<k>.json (kept for a failing run's details).
// Exit code 1 if any test failed in any run.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`--runs must be a positive integer, got ${values.runs}`);
  process.exit(2);
}
const out = join(root, 'test-repeat');
rmSync(out, { recursive: true, force: true });
mkdirSync(out);

/** Per test (file > title): runs in which it failed, and what it said first. */
const failures = new Map();
let total = 0;
const started = Date.now();
for (let k = 1; k <= runs; k++) {
  const file = join(out, `run-${k}.json`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--reporter=dot', '--reporter=json', `--outputFile.json=${file}`], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, CI: process.env.CI ?? 'true' } });
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    console.error(`run ${k}: vitest wrote no report (exit ${r.status}, signal ${r.signal})`);
    failures.set('(the run itself)', [...(failures.get('(the run itself)') ?? []), { run: k, message: `exit ${r.status}` }]);
    continue;
  }
  total = Math.max(total, report.numTotalTests);
  for (const f of report.testResults) {
    const rel = f.name.startsWith(root) ? f.name.slice(root.length) : f.name;
    if (f.assertionResults.length === 0 && f.status === 'failed') {
      const key = `${rel} (the file)`;
      failures.set(key, [...(failures.get(key) ?? []), { run: k, message: f.message }]);
    }
    for (const t of f.assertionResults) {
      if (t.status !== 'failed') continue;
      const key = `${rel} > ${t.fullName}`;
      failures.set(key, [...(failures.get(key) ?? []), { run: k, message: (t.failureMessages ?? [])[0] ?? '' }]);
    }
  }
  console.log(`run ${k}/${runs}: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${report.numPendingTests + report.numTodoTests} skipped, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

console.log(`\n${runs} runs of ${total} tests in ${((Date.now() - started) / 60000).toFixed(1)} min`);
if (failures.size === 0) {
  console.log(`failures per test: none (0 of ${runs} runs failed anything)`);
} else {
  console.log('failures per test:');
  for (const [name, fs] of [...failures].sort((a, b) => b[1].length - a[1].length)) {
    console.log(`  ${fs.length}/${runs}  ${name}`);
    for (const f of fs) console.log(`        run ${f.run}: ${String(f.message).split('\n')[0].slice(0, 200)}`);
  }
}
process.exit(failures.size === 0 ? 0 : 1);
