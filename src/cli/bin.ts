/** Process entry of the `o2o` command (bin/o2o.mjs and the npm scripts run this file). */
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
