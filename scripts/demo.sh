#!/usr/bin/env bash
# The ivr demo: prove the example flows, watch a caller cancel, and watch the checker reject the 2014 retention
# loop with a counterexample. Every command it runs is printed first, so you can run it yourself.
set -u
cd "$(dirname "$0")/.."
run() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
say() { printf '\n\033[36m# %s\033[0m\n' "$*"; }

say "1. Prove every example flow: a caller who keeps saying 'cancel' is cancelled within N turns, from anywhere."
run ivr check flows/

say "2. A caller who wants to cancel, typed into the terminal line by line (#digits = key presses, empty = silence)."
printf 'I want to cancel my service\n#12345678#\n\ncancel\nyes\n' > /tmp/ivr-demo-caller.txt
printf '%s\n' "   (caller lines: $(tr '\n' '|' < /tmp/ivr-demo-caller.txt))"
run ivr call flows/acme.yaml --from +15551234567 < /tmp/ivr-demo-caller.txt

say "3. The 2014 call, as a flow: every 'cancel' is met with another question. ivr check rejects it (exit 1)."
run ivr check tests/flows/retention-loop-2014.yaml
echo "(exit status $?)"

say "4. The acme flow as a Mermaid graph (paste into any Mermaid viewer; cancel paths are red). First lines:"
ivr graph flows/acme.yaml | head -12
say "Next: 'ivr call flows/acme.yaml' to call it yourself, 'make test' to run the tests. See README.md."
