// millrace/testing: run an app's tasks in tests, with no Redis and on a clock the test drives.
export { createTestApp, TestApp, DrainLimitError, type AnyApp, type TestAppOptions, type EnqueuedJob, type TestClock, type Outcome, type DrainOptions, type DrainReport } from './kit.js';
export { ManualClock } from '../memory/clock.js';
