#!/usr/bin/env bash
# Re-render the recorded calls of audio/ from their call scripts: `bash audio/make.sh [SCRIPT.call.yaml...]`
# (default: every audio/*/*.call.yaml). Needs ivr (pip install -e .), espeak-ng, flite and sox.
#
# Each script says how its caller sounds on a `# synth:` line: the options `ivr synth` is given (voice, --phone,
# noise and its seed). A `# recording:` line picks another shape than one mono file <name>.wav:
#   dual-channel  <name>.wav with the caller on channel 0 and the line's side on channel 1: a 425 Hz tone while
#                 the IVR speaks (between the caller's turns), quiet while the caller speaks
#   clips         <name>/01.wav, 02.wav, ...: one clip per caller turn, 0.5 s of the line around it
# Everything is seeded or fixed (sox runs with -R, no dither), so a second run writes the same bytes.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
if [ $# -gt 0 ]; then scripts=("$@"); else scripts=("$here"/*/*.call.yaml); fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ivr-audio-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
SOX=(sox -R -D -V1)

# The caller's turns as printed by `ivr synth` ("  1.50-  3.15  say 'cancel'"): START END per line.
turns() { sed -nE 's/^ *([0-9]+\.[0-9]+)- *([0-9]+\.[0-9]+) .*/\1 \2/p' "$1"; }

dual_channel() {  # dual_channel CALLER.wav TURNS.txt OUT.wav
    local caller=$1 out=$3 samples i=0 kind n pieces=()
    samples=$(soxi -s "$caller")
    # quiet/tone pieces in samples: the tone fills each gap between turns, 0.25 s clear of the caller
    while read -r kind n; do
        i=$((i + 1))
        if [ "$kind" = tone ]; then
            "${SOX[@]}" -r 8000 -c 1 -n -e u-law "$tmp/piece$i.wav" synth "${n}s" sine 425 vol 0.25 fade 0.02 "${n}s" 0.02
        else
            "${SOX[@]}" -r 8000 -c 1 -n -e u-law "$tmp/piece$i.wav" trim 0 "${n}s"
        fi
        pieces+=("$tmp/piece$i.wav")
    done < <(turns "$2" | awk -v total="$samples" -v rate=8000 -v clear=0.25 '
        function emit(kind, until) { n = int(until * rate + 0.5) - at; if (n > 0) { print kind, n; at += n } }
        { emit("quiet", (NR == 1 ? 0 : end) + clear); emit("tone", $1 - clear); emit("quiet", $2); end = $2 }
        END { emit("quiet", end + clear); emit("tone", total / rate - clear); if (total > at) print "quiet", total - at }')
    "${SOX[@]}" "${pieces[@]}" "$tmp/line.wav"
    "${SOX[@]}" -M "$caller" "$tmp/line.wav" -e u-law "$out"
    rm -f "$tmp"/piece*.wav "$tmp/line.wav"
}

clips() {  # clips CALLER.wav TURNS.txt DIR
    local caller=$1 dir=$3 i=0 start end
    rm -rf "$dir"
    mkdir -p "$dir"
    while read -r start end; do
        i=$((i + 1))
        "${SOX[@]}" "$caller" -e u-law "$dir/$(printf %02d "$i").wav" \
            trim "$(awk -v s="$start" 'BEGIN { print (s > 0.5 ? s - 0.5 : 0) }')" "=$(awk -v e="$end" 'BEGIN { print e + 0.5 }')"
    done < <(turns "$2")
}

for script in "${scripts[@]}"; do
    case "$script" in *.call.yaml) ;; *) echo "$script: not a call script (*.call.yaml)" >&2; exit 2 ;; esac
    name=${script%.call.yaml}
    options=$(sed -n 's/^# synth: *//p' "$script")
    shape=$(sed -n 's/^# recording: *//p' "$script")
    if [ -z "$options" ]; then echo "$script: no '# synth: OPTIONS' line" >&2; exit 2; fi
    read -ra options <<< "$options"
    case "$shape" in
        "")
            ivr synth "$script" -o "$name.wav" "${options[@]}" > "$tmp/turns.txt" ;;
        dual-channel)
            ivr synth "$script" -o "$tmp/caller.wav" "${options[@]}" > "$tmp/turns.txt"
            dual_channel "$tmp/caller.wav" "$tmp/turns.txt" "$name.wav" ;;
        clips)
            ivr synth "$script" -o "$tmp/caller.wav" "${options[@]}" > "$tmp/turns.txt"
            clips "$tmp/caller.wav" "$tmp/turns.txt" "$name" ;;
        *)
            echo "$script: unknown '# recording: $shape'; use dual-channel or clips" >&2; exit 2 ;;
    esac
    echo "${name#"$here"/}: $(head -n 1 "$tmp/turns.txt" | sed 's/^wrote [^:]*: //')"
done
