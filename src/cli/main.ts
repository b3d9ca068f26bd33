#!/usr/bin/env node
// The `cs` executable: run the command line and exit with its status.
import { cs } from './command';

cs(process.argv.slice(2)).then((status) => {
  process.exitCode = status;
});
