// ssd, the status daemon: notes this host's status (csnote) every $CS_STAT_FREQ
// seconds on average, randomised so hosts do not update in step, and answers each
// client of its path with the current status as one JSON line. It never retires.
// Each import names the module that owns it: a started ssd loads only its own part of cs.
import { csname } from '../../src/net/routines';
import { csnote, statFreq } from '../../src/net/stat';
import { serve } from '../../src/launch/serve';
import { StatusSampler } from './sample';

const path = process.argv[2] ?? '/dev/fdp/local/ssd';
const sampler = new StatusSampler();
let current = sampler.sample();

function note(): void {
  current = sampler.sample();
  csnote(csname(), current);
}

function schedule(): void {
  // uniform in 0.5..1.5 times the frequency: the mean stays CS_STAT_FREQ
  setTimeout(() => {
    try {
      note();
    } catch (e) {
      process.stderr.write(`ssd: ${(e as Error).message}\n`);
    }
    schedule();
  }, statFreq() * 1000 * (0.5 + Math.random()));
}

serve(path, (conn) => conn.end(JSON.stringify(current) + '\n'), { slave: true })
  .then(() => {
    note();
    schedule();
  })
  .catch((e: Error) => {
    process.stderr.write(`ssd: ${e.message}\n`);
    process.exit(1);
  });
