"""`ivr synth`: a call script's caller side as a recording, with offline text-to-speech, DTMF tones, a telephone
line and noise. Needs `ivrkit[speech]` and Debian's espeak-ng or flite.
"""

from __future__ import annotations

from pathlib import Path

import click

from ivr.cli.common import needs


@click.command("synth")
@click.argument("script", metavar="SCRIPT")
@click.option("-o", "--output", required=True, metavar="FILE", help="the recording: .wav, .mp3, .flac or .ogg")
@click.option("--voice", default="espeak", show_default=True,
              help="espeak, flite, or ENGINE:VOICE (espeak:en-us+f3, flite:kal)")
@click.option("--phone", is_flag=True, help="through a telephone line: 300-3400 Hz, 8 kHz, mu-law (as a .wav)")
@click.option("--noise-snr", type=float, metavar="DB", help="add noise over the whole call, DB below the speech")
@click.option("--noise", "noise_kind", type=click.Choice(["white", "pink"]), default="white", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="the noise's random seed")
@click.option("--gap", type=click.FloatRange(min=0.0), default=1.5, show_default=True,
              help="seconds of quiet before each turn (the IVR speaks then)")
@click.option("--silence", type=click.FloatRange(min=0.0), default=6.0, show_default=True,
              help="seconds a `silence` step lasts")
def synth_cmd(script: str, output: str, voice: str, phone: bool, noise_snr: float | None, noise_kind: str,
              seed: int, gap: float, silence: float) -> None:
    """Render SCRIPT's caller side (say, press, silence) as a recording, with offline text-to-speech."""
    needs("speech", "ivr synth")
    from ivr.speech import synth  # numpy, pydub and the speech programs: only for this command
    from ivr.speech.audio import FORMATS, save
    from ivr.testing.scripts import load_script

    if Path(output).suffix.lower() not in FORMATS:
        raise click.BadParameter(f"{output!r}: name a {', '.join(FORMATS)} file", param_hint="-o/--output")
    steps = load_script(script).steps
    rendering = synth.synthesise(steps, synth.Voice.parse(voice), gap=gap, silence=silence)
    audio = synth.line(rendering, phone=phone, noise_snr=noise_snr, seed=seed, noise=noise_kind)
    path = save(audio, output, mu_law=phone and output.lower().endswith(".wav"))
    encoding = "mu-law" if phone and path.suffix.lower() == ".wav" else path.suffix[1:].lower()
    click.echo(f"wrote {path}: {audio.duration:.1f} s, {audio.sample_rate} Hz {encoding}, "
               f"{len(rendering.turns)} turns" + (f", noise {noise_kind} at {noise_snr:g} dB SNR"
                                                  if noise_snr is not None else ""))
    for turn in rendering.turns:
        what = {"say": f"say {turn.value!r}", "press": f"press {turn.value}"}.get(turn.kind, turn.kind)
        click.echo(f"  {turn.start:6.2f}-{turn.end:6.2f}  {what}")
