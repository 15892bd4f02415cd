import os from "node:os";
import path from "node:path";

/** Where test processes keep embedded analytics (chDB) data, one folder per process; removed at the end. */
export const TEST_ANALYTICS_ROOT = path.join(os.tmpdir(), "latchkey-test-analytics");
