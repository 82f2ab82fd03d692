#!/usr/bin/env node
/** The `zqueue` executable: see src/cli/main.ts. */
import { main } from './cli/main.js';

process.exitCode = await main(process.argv.slice(2));
