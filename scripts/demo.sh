#!/usr/bin/env bash
# The ivr demo: prove the example flows, watch a caller cancel, watch the checker reject the 2014 retention loop
# with a counterexample, and crawl a hand-written Twilio app as a black box. Every command it runs is printed
# first, so you can run it yourself.
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
say "5. The phone line: the webhook app (signatures checked, calls stored), called by the fake Twilio over HTTP."
demo_dir=$(mktemp -d /tmp/ivr-demo.XXXXXX)
export TWILIO_AUTH_TOKEN=demo-token-not-a-secret IVR_DATABASE_URL="sqlite:///$demo_dir/calls.db"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '\n\033[1m$ %s\033[0m\n' "ivr serve flows/acme.yaml --port $port &"
ivr serve flows/acme.yaml --port "$port" > "$demo_dir/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$demo_dir"' EXIT
python3 - "$port" <<'PY'
import sys, time, urllib.request
for _ in range(100):  # until the server answers /healthz (at most 20 s)
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=1)
        break
    except OSError:
        time.sleep(0.2)
PY
sed -n '1,6p' "$demo_dir/serve.log"
run ivr call acme --url "http://127.0.0.1:$port" --from +15551234567 < /tmp/ivr-demo-caller.txt
run ivr calls list
run ivr cancellations list

say "6. A recorded call (audio/acme: a synthesised caller on a noisy 8 kHz phone line), heard offline by Whisper."
say "   At the default risk (1% wrong recognitions) Whisper tiny.en cannot vouch for it: INCONCLUSIVE (exit 1)."
run ivr replay flows/acme.yaml audio/acme/billing-then-cancel.wav --within 6
echo "(exit status $?)"
say "   Accepting 10% wrong recognitions, only the near coin-flips stay uncertain, and the call has a verdict."
run ivr replay flows/acme.yaml audio/acme/billing-then-cancel.wav --within 6 --max-risk 0.1

say "7. A line not built with ivr: a hand-written Flask app (docs/examples/phone_tree.py), crawled as a black box."
say "   Every key, hint and cancel phrasing on fresh calls; then: is a canceller cancelled within 2 turns from every state?"
run ivr crawl docs/examples/phone_tree.py:app --entry /incoming --within 2 --cancel-when "prompt:service is cancelled"

say "Next: 'ivr call flows/acme.yaml' to call it yourself, 'make test' to run the tests. See README.md."
