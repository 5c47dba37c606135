#!/usr/bin/env python3
"""check_training.py <script>: the example trains, and exactly as with gloo.

Runs the training example (train_sgd.py or train_ddp.py) twice on 2 ranks,
with backend "baton" and with "gloo", 3 epochs on the first 6000 images,
and checks what a broken run cannot produce:
  - every rank's mean loss falls every epoch and ends below 2.0;
  - every rank ends with the same parameters (a position-weighted sum);
  - baton's per-epoch losses and final parameters equal gloo's exactly
    (a sum of two values does not depend on the order, so the backends
    must agree bit for bit).
"""
import os
import re
import subprocess
import sys

from check_output import example_env

LOSS = re.compile(r'^Rank\s+(\d+)\s*, epoch\s+(\d+)\s*:\s+(\S+)$', re.M)
PARAMS = re.compile(r'^Rank\s+(\d+)\s+parameters: (\S+)$', re.M)


def train(script, backend):
    env = example_env()
    env.update(EXAMPLE_BACKEND=backend, EXAMPLE_EPOCHS='3', EXAMPLE_LIMIT='6000', EXAMPLE_PARAMS='1')
    done = subprocess.run([sys.executable, script], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=env)
    sys.stdout.write('--- %s on %s\n%s' % (script, backend, done.stdout))
    if done.returncode != 0:
        sys.exit('check_training: %s on %s exited with %d' % (script, backend, done.returncode))
    losses = {(int(r), int(e)): float(v) for r, e, v in LOSS.findall(done.stdout)}
    params = {int(r): v for r, v in PARAMS.findall(done.stdout)}
    if sorted(losses) != [(r, e) for r in range(2) for e in range(3)] or sorted(params) != [0, 1]:
        sys.exit('check_training: %s on %s did not print 3 epochs and the parameters of 2 ranks'
                 % (script, backend))
    return losses, params


def main():
    script = sys.argv[1]
    baton, baton_params = train(script, 'baton')
    gloo, gloo_params = train(script, 'gloo')
    problems = []
    for r in range(2):
        curve = [baton[(r, e)] for e in range(3)]
        if not all(a > b for a, b in zip(curve, curve[1:])) or curve[-1] >= 2.0:
            problems.append('rank %d: losses %s do not fall below 2.0' % (r, curve))
    if len(set(baton_params.values())) != 1:
        problems.append('the ranks ended with different parameters: %s' % baton_params)
    if baton != gloo:
        problems.append('losses differ from gloo: baton %s, gloo %s' % (baton, gloo))
    if baton_params != gloo_params:
        problems.append('parameters differ from gloo: baton %s, gloo %s' % (baton_params, gloo_params))
    if problems:
        sys.exit('check_training: ' + '; '.join(problems))
    print('check_training: ok: %s on baton equals gloo (losses %s, parameters %s)'
          % (os.path.basename(script), [baton[(0, e)] for e in range(3)], baton_params[0]))


if __name__ == '__main__':
    main()
