/** Process entry of the `o2o` command (bin/o2o.mjs and the npm scripts run this file). */
import { main } from './main.js';

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Every command closes what it started; should anything still hold the event loop (a socket a
// failed library call left open), the process exits anyway rather than hang after its message.
setTimeout(() => process.exit(code), 1000).unref();
