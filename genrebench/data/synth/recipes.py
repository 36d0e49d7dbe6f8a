"""The recipe tables: genres, instrument timbres, chords, scales and one `Recipe` per genre.

Pure data, no synthesis and no imports from the rest of the package: a genre sounds different when its row
here changes, and the renderer never branches on a genre's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GENRES: tuple[str, ...] = (
    "blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock",
)

STEPS = 16  # a bar of 4/4 in sixteenth notes


# ---- timbres, chords, scales -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Timbre:
    """A pitched instrument: harmonic amplitudes and an ADSR-like envelope.

    Attributes:
        partials: Amplitudes of harmonics 1, 2, 3, ... once the note has settled.
        attack: Seconds of the linear rise.
        decay: Time constant (s) of the fall from full level towards `sustain`.
        sustain: Level held while the note is down (0 for plucked and struck strings).
        release: Seconds of the fade after note-off.
        bright: Harmonics at the onset, if different; picks and hammers start bright and mellow out.
        bright_time: Time constant (s) of that fade from `bright` to `partials`.
        vibrato: Depth in semitones of a 5.5 Hz vibrato (bowed, blown and sung leads).
        detune: Cents of a second, detuned voice (string sections, chorused pads).
    """

    partials: tuple[float, ...]
    attack: float = 0.005
    decay: float = 0.4
    sustain: float = 0.7
    release: float = 0.08
    bright: tuple[float, ...] | None = None
    bright_time: float = 0.08
    vibrato: float = 0.0
    detune: float = 0.0


def _saw(n: int, tilt: float = 1.0) -> tuple[float, ...]:
    return tuple(1.0 / k**tilt for k in range(1, n + 1))


def _odd(n: int, tilt: float = 1.0) -> tuple[float, ...]:
    return tuple((1.0 / k**tilt) if k % 2 else 0.08 / k for k in range(1, n + 1))


TIMBRES: dict[str, Timbre] = {
    # keys and plucks: no sustain, a bright onset that mellows
    "piano": Timbre((1, .45, .3, .18, .12, .08, .05, .03), decay=1.2, sustain=0.0, release=0.15,
                    bright=(1, .7, .5, .4, .3, .25, .2, .15, .1, .08), bright_time=0.06),
    "epiano": Timbre((1, .25, .06, .03), decay=1.0, sustain=0.15, release=0.2,
                     bright=(1, .3, .15, .05, .1, .25, .05, .15), bright_time=0.05, detune=4),
    "clean_gtr": Timbre((1, .6, .4, .3, .2, .15, .1, .08, .05), decay=0.6, sustain=0.1, release=0.08,
                        bright=_saw(14, 0.7), bright_time=0.05),
    "twang": Timbre((1, .8, .6, .5, .35, .3, .2, .15), decay=0.35, sustain=0.05, release=0.05,
                    bright=_saw(18, 0.45), bright_time=0.03),
    "skank": Timbre((.6, 1, .7, .6, .5, .4, .3, .25, .2), decay=0.08, sustain=0.0, release=0.03,
                    bright=_saw(16, 0.4), bright_time=0.02),
    "power_gtr": Timbre(_saw(16, 0.8), attack=0.003, decay=0.8, sustain=0.6, release=0.06),
    "organ": Timbre((1, .9, .5, .7, 0, .35, 0, .45, 0, .2), attack=0.008, decay=0.5, sustain=0.95,
                    release=0.05, detune=3),
    # sustained pads and sections
    "strings": Timbre(_saw(14, 1.1), attack=0.35, decay=1.0, sustain=0.9, release=0.45, vibrato=0.12,
                      detune=9),
    "synth_pad": Timbre(_saw(10, 1.3), attack=0.02, decay=0.4, sustain=0.75, release=0.12, detune=7),
    # basses
    "bass_finger": Timbre((1, .55, .3, .15, .08, .05), decay=0.7, sustain=0.35, release=0.05,
                          bright=(1, .7, .5, .35, .25, .15, .1), bright_time=0.04),
    "bass_upright": Timbre((1, .45, .18, .07, .03), attack=0.008, decay=0.35, sustain=0.1, release=0.06),
    "bass_pick": Timbre((1, .7, .5, .4, .3, .2, .15, .1), decay=0.5, sustain=0.5, release=0.04,
                        bright=_saw(14, 0.6), bright_time=0.03),
    "bass_synth": Timbre(_saw(10, 0.9), attack=0.003, decay=0.15, sustain=0.55, release=0.03),
    "bass_sub": Timbre((1, .08, .02), attack=0.004, decay=1.5, sustain=0.5, release=0.1),
    "bass_dub": Timbre((1, .25, .06), attack=0.01, decay=0.8, sustain=0.6, release=0.08),
    "cello": Timbre(_saw(12, 1.2), attack=0.25, decay=1.0, sustain=0.85, release=0.4, vibrato=0.1, detune=5),
    # leads
    "violin": Timbre(_saw(14, 0.95), attack=0.12, decay=0.8, sustain=0.85, release=0.2, vibrato=0.2),
    "flute": Timbre((1, .25, .08, .03), attack=0.06, decay=0.6, sustain=0.85, release=0.12, vibrato=0.12),
    "sax": Timbre((1, .85, .7, .55, .45, .3, .22, .15, .1), attack=0.04, decay=0.5, sustain=0.75,
                  release=0.08, vibrato=0.15),
    "fiddle": Timbre(_saw(14, 0.8), attack=0.05, decay=0.5, sustain=0.8, release=0.1, vibrato=0.25),
    "synth_lead": Timbre(_odd(11, 1.0), attack=0.01, decay=0.3, sustain=0.8, release=0.08, vibrato=0.08,
                         detune=6),
    "lead_gtr": Timbre(_saw(14, 0.75), attack=0.004, decay=0.9, sustain=0.55, release=0.1, vibrato=0.25),
    "melodica": Timbre((1, .7, .55, .4, .3, .25, .2), attack=0.03, decay=0.4, sustain=0.8, release=0.06),
}

CHORDS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "5": (0, 7, 12), "7": (0, 4, 7, 10), "m7": (0, 3, 7, 10),
    "maj7": (0, 4, 7, 11), "9": (0, 4, 10, 14), "m9": (0, 3, 10, 14), "maj9": (0, 4, 11, 14),
    "add9": (0, 4, 7, 14), "sus4": (0, 5, 7),
}

SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10), "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10), "major_pent": (0, 2, 4, 7, 9), "minor_pent": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10), "harm_minor": (0, 2, 3, 5, 7, 8, 11),
}

Progression = tuple[tuple[int, str], ...]  # (semitones above the key, chord type) per chord


# ---- recipes -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Recipe:
    """How one genre is played. Ranges are (low, high) and drawn per track; pattern tuples are alternatives.

    Drum patterns are 16 characters, one per sixteenth: ``X`` accent, ``x`` hit, ``o`` ghost, ``.`` rest.
    Bass patterns use ``R`` root, ``3`` ``5`` ``6`` ``7`` chord degrees, ``O`` octave, ``W`` a walking chord
    tone, ``A`` a chromatic approach to the next chord, ``-`` hold, ``.`` rest. Comping patterns use
    ``x``/``o`` for the chord (loud/soft) and ``a`` for the next note of an arpeggio; lead patterns use ``n``
    for a new note.
    """

    tempo: tuple[float, float]
    swing16: tuple[float, float] = (0.0, 0.0)  # delay of odd sixteenths, as a fraction of a sixteenth
    swing8: tuple[float, float] = (0.0, 0.0)  # delay of off-beat eighths, in eighths; 1/3 = triplet shuffle
    kick: tuple[str, ...] = ()
    snare: tuple[str, ...] = ()
    hat: tuple[str, ...] = ()
    open_hat: tuple[str, ...] = ()
    ride: tuple[str, ...] = ()
    # start and end pitch (Hz), pitch-drop and level time constants (s), click level
    kick_tone: tuple[float, float, float, float, float] = (160, 50, 0.02, 0.25, 0.2)
    snare_kind: str = "snare"  # snare | clap | rim | brush
    snare_tone: float = 190.0
    hat_decay: float = 0.035
    crash: bool = False
    bass: tuple[str, ...] = ("R-------R-------",)
    bass_timbre: tuple[str, ...] = ("bass_finger",)  # timbre tuples are alternatives, one drawn per track
    bass_low: int = 33  # lowest MIDI note of the bass register (one octave up from here)
    progressions: tuple[Progression, ...] = (((0, "maj"),),)
    bars_per_chord: tuple[int, ...] = (1,)
    comp: tuple[str, ...] = ("x---------------",)
    comp_timbre: tuple[str, ...] = ("piano",)
    comp_center: int = 60
    pad_timbre: str | None = None  # a second, sustained chord layer, one chord per bar
    arp: tuple[str, ...] = ()
    arp_timbre: tuple[str, ...] = ("piano",)
    drive: tuple[float, float] = (0.0, 0.0)  # tanh drive on the comping bus; 0 = clean
    lead_prob: float = 0.0
    lead_timbre: tuple[str, ...] = ("synth_lead",)
    lead_scale: str = "major"
    lead: tuple[str, ...] = ("n---n---n---n---",)
    lead_low: int = 64
    noise_db: tuple[float, float] = (-60.0, -40.0)  # background hiss relative to the music's RMS
    crackle: float = 0.0  # probability of vinyl crackle
    hum: float = 0.0  # probability of mains hum
    room: tuple[float, float] = (0.05, 0.25)
    lowpass: tuple[float, float] = (6000.0, 11000.0)  # master bandwidth: recordings of different eras
    swell: tuple[float, float] = (0.0, 0.15)  # depth of slow level changes
    limiter: tuple[float, float] = (0.0, 1.0)  # master tanh drive: loud, compressed masters are larger
    gains: dict[str, tuple[float, float]] = field(default_factory=dict)  # dB per bus around 0 dB
    echo: tuple[float, float] = (0.0, 0.0)  # dub echo feedback on the comping bus


_TRIAD_POP = (((0, "maj"), (7, "maj"), (9, "min"), (5, "maj")),
              ((9, "min"), (5, "maj"), (0, "maj"), (7, "maj")),
              ((0, "add9"), (5, "maj"), (9, "min"), (7, "sus4")))

RECIPES: dict[str, Recipe] = {
    # 12-bar shuffle in dominant sevenths: triplet swing, boogie bass, organ or overdriven guitar
    "blues": Recipe(
        tempo=(70, 125), swing8=(0.26, 0.34),
        kick=("x.......x.......", "x.....x.x......."), snare=("....x.......x...", "....x.....o.x..."),
        hat=("x.x.x.x.x.x.x.x.", "x...x.x.x...x.x."), kick_tone=(150, 55, 0.02, 0.25, 0.15), hat_decay=0.05,
        bass=("R-3-5-6-O-6-5-3-", "R---5---6---5---", "R-R-3-3-5-5-6-6-"),
        bass_timbre=("bass_finger", "bass_upright"),
        progressions=(((0, "7"), (0, "7"), (0, "7"), (0, "7"), (5, "7"), (5, "7"), (0, "7"), (0, "7"),
                       (7, "7"), (5, "7"), (0, "7"), (7, "7")),
                      ((0, "7"), (5, "7"), (0, "7"), (0, "7"), (5, "7"), (5, "7"), (0, "7"), (0, "7"),
                       (7, "7"), (5, "7"), (0, "7"), (7, "7"))),
        comp=("x-x-x-x-x-x-x-x-", "x--.x--.x--.x--.", "..x...x...x...x."),
        comp_timbre=("organ", "clean_gtr", "power_gtr", "piano"), drive=(0.0, 3.0),
        lead_prob=0.6, lead_timbre=("lead_gtr", "sax"), lead_scale="blues", lead_low=57,
        lead=("n.n-n...n--.....", "....n-n-n-----..", "n--n--n-........", "..n.n.n-n---...."),
        noise_db=(-50, -30), crackle=0.3, hum=0.3, room=(0.1, 0.35), lowpass=(3500, 9000), limiter=(0.0, 1.5),
        gains={"comp": (-4, 1), "lead": (-6, 0)}),
    # no drums; strings and piano, slow attacks, arpeggios, wide dynamics and a big hall
    "classical": Recipe(
        tempo=(55, 120),
        bass=("R---------------", "R-------5-------"), bass_timbre=("cello",), bass_low=36,
        progressions=(((0, "maj"), (5, "maj"), (7, "maj"), (0, "maj"), (9, "min"), (2, "min"), (7, "7"),
                       (0, "maj")),
                      ((0, "min"), (5, "min"), (7, "7"), (0, "min"), (8, "maj"), (5, "min"), (7, "7"),
                       (0, "min")),
                      ((0, "maj"), (9, "min"), (5, "maj"), (7, "7"))),
        bars_per_chord=(1, 2), comp=("x---------------", "x-------x-------"),
        comp_timbre=("strings", "organ"), comp_center=62, arp_timbre=("piano", "clean_gtr"),
        arp=("a.a.a.a.a.a.a.a.", "aaaaaaaaaaaaaaaa", "a-a-a-a-a-a-a-a-", ""),
        lead_prob=0.7, lead_timbre=("violin", "flute"), lead_scale="major", lead_low=67,
        lead=("n---n---n-n-n---", "n-------n---n---", "n-n-n-n-n---n---", "n-----n-n-------"),
        noise_db=(-65, -45), room=(0.3, 0.6), lowpass=(5000, 11000), swell=(0.3, 0.75), limiter=(0.0, 0.0),
        gains={"bass": (-6, 0), "arp": (-5, 1), "lead": (-5, 0)}),
    # train beat, root-fifth two-beat bass, bright twangy plucks on 2 and 4, fiddle
    "country": Recipe(
        tempo=(90, 145), swing8=(0.0, 0.12),
        kick=("x.......x.......", "x...x...x...x..."),
        snare=("o.o.X.o.o.o.X.o.", "....x.......x...", "oooXoooXoooXoooX"), snare_kind="brush",
        hat=("x.x.x.x.x.x.x.x.", ""), kick_tone=(150, 55, 0.02, 0.2, 0.15),
        bass=("R.......5.......", "R...5...R...5...", "R...5...R.3.5.6."),
        bass_timbre=("bass_finger", "bass_upright"),
        progressions=(((0, "maj"), (0, "maj"), (5, "maj"), (5, "maj"), (7, "maj"), (7, "maj"), (0, "maj"),
                       (0, "maj")),
                      ((0, "maj"), (5, "maj"), (0, "maj"), (7, "maj"))),
        comp=("....x.......x...", "x.x.x.x.x.x.x.x.", "..x.x...x.x.x..."),
        comp_timbre=("twang", "clean_gtr", "piano"),
        arp=("a.a.a.a.a.a.a.a.", "", ""), arp_timbre=("clean_gtr", "twang"),
        lead_prob=0.5, lead_timbre=("fiddle", "twang"), lead_scale="major_pent", lead_low=64,
        lead=("n.n.n.n-n---....", "n-n-n-n-n-n-n---", "n.n.n-n.n.n-n---"),
        noise_db=(-55, -35), room=(0.05, 0.25), lowpass=(4500, 10000), limiter=(0.0, 1.0),
        gains={"comp": (-3, 2)}),
    # four on the floor, open hats on the off-beats, octave bass, string pads and 16th guitar chops
    "disco": Recipe(
        tempo=(110, 130), swing16=(0.0, 0.08),
        kick=("x...x...x...x...",), snare=("....x.......x...",), snare_kind="clap",
        hat=("x.x.x.x.x.x.x.x.", "xxxxxxxxxxxxxxxx"), open_hat=("..X...X...X...X.",),
        kick_tone=(170, 50, 0.02, 0.28, 0.2), hat_decay=0.03,
        bass=("R.O.R.O.R.O.R.O.", "ROR.O.R.ROR.O.R."), bass_timbre=("bass_synth", "bass_finger"),
        progressions=(((0, "m7"), (5, "m7")), ((0, "m7"), (10, "7")),
                      ((0, "m9"), (0, "m9"), (5, "m7"), (7, "m7"))),
        bars_per_chord=(1, 2), comp=("..x...x...x...x.", "x.xx.xx.x.xx.xx."),
        comp_timbre=("clean_gtr", "epiano", "synth_pad"), pad_timbre="strings",
        lead_prob=0.4, lead_timbre=("violin", "synth_lead"), lead_scale="dorian", lead_low=69,
        lead=("n-------n-------", "n---n---n-n-n---"),
        noise_db=(-60, -40), room=(0.1, 0.3), lowpass=(6000, 11000), limiter=(0.5, 2.0),
        gains={"drums": (0, 3), "pad": (-6, -1)}),
    # swung boom-bap, 808-style sub bass, sparse lo-fi keys, vinyl crackle
    "hiphop": Recipe(
        tempo=(80, 100), swing16=(0.15, 0.4),
        kick=("x.........x.x...", "x......x..x.....", "x.x.......x....."), snare=("....x.......x...",),
        snare_kind="clap", hat=("x.x.x.x.x.x.x.x.", "x.xxx.x.x.xxx.x."), kick_tone=(120, 42, 0.04, 0.55, 0.1),
        bass=("R-------..R-R---", "R------.....R-..", "R---------R-----"),
        bass_timbre=("bass_sub", "bass_finger"), bass_low=28,
        progressions=(((0, "m9"), (8, "maj7")), ((0, "m7"), (5, "m7")),
                      ((0, "m9"), (3, "maj7"), (8, "maj7"))),
        bars_per_chord=(1, 2), comp=("x-------....o---", "x-----..x-------", "..x-----..x-----"),
        comp_timbre=("epiano", "piano", "strings"), comp_center=60,
        lead_prob=0.15, lead_timbre=("flute", "synth_lead"), lead_scale="minor_pent",
        lead=("n-----......n---",),
        noise_db=(-45, -28), crackle=0.8, room=(0.0, 0.15), lowpass=(3500, 8000), limiter=(0.5, 2.0),
        gains={"drums": (1, 4), "bass": (0, 4), "comp": (-7, -2)}),
    # ride-cymbal swing, walking bass, 7th/9th comping, brushes, a horn lead
    "jazz": Recipe(
        tempo=(90, 200), swing8=(0.25, 0.34),
        ride=("x...x.x.x...x.x.",), hat=("....x.......x...",), kick=("o.......o.......", ""),
        snare=("......o.....o...", "..o.......o...o.", "x...x...x...x..."), snare_kind="brush",
        kick_tone=(110, 60, 0.02, 0.2, 0.05), hat_decay=0.03,
        bass=("R---W---W---A---", "R---W---5---A---"), bass_timbre=("bass_upright",), bass_low=31,
        progressions=(((2, "m9"), (7, "9"), (0, "maj9"), (0, "maj9")),
                      ((2, "m7"), (7, "7"), (0, "maj7"), (9, "7")),
                      ((0, "maj7"), (9, "m7"), (2, "m7"), (7, "7"))),
        comp=("x.....x.........", "....x.....x.....", "..x.......x...x."),
        comp_timbre=("epiano", "piano", "clean_gtr", "organ"),
        lead_prob=0.6, lead_timbre=("sax", "flute", "lead_gtr"), lead_scale="dorian", lead_low=60,
        lead=("n.n.n.n.n.n.n.n.", "..n.n.n-n...n.n.", "n-n.n.n.n---...."),
        noise_db=(-55, -35), room=(0.15, 0.4), lowpass=(4500, 10000), swell=(0.05, 0.3), limiter=(0.0, 0.5),
        gains={"drums": (-4, 0), "bass": (-1, 3)}),
    # fast, double kick, palm-muted power-chord chugs through heavy distortion, crashes
    "metal": Recipe(
        tempo=(130, 200),
        kick=("xxxxxxxxxxxxxxxx", "x.x.x.x.x.x.x.x.", "x.xxx.xxx.xxx.xx"),
        snare=("....x.......x...", "..x...x...x...x."), hat=("x.x.x.x.x.x.x.x.",), crash=True,
        kick_tone=(220, 55, 0.012, 0.12, 0.6), snare_tone=210, hat_decay=0.05,
        bass=("RRRRRRRRRRRRRRRR", "R.R.R.R.R.R.R.R.", "R-------R-------"),
        bass_timbre=("bass_pick",), bass_low=28,
        progressions=(((0, "5"), (8, "5"), (10, "5"), (0, "5")), ((0, "5"), (1, "5"), (0, "5"), (3, "5")),
                      ((0, "5"), (0, "5"), (5, "5"), (3, "5"))),
        comp=("xxxx.xxx.xxx.x.x", "x-------x-------", "x.xxx.xxx.xxx.xx", "xxxxxxxxxxxxxxxx"),
        comp_timbre=("power_gtr",), comp_center=52, drive=(5.0, 20.0),
        lead_prob=0.2, lead_timbre=("lead_gtr",), lead_scale="harm_minor", lead_low=62,
        lead=("nnnnnnnnnnnnnnnn", "n-n-n-n-n-n-n-n-"),
        noise_db=(-60, -40), room=(0.05, 0.2), lowpass=(5000, 10000), limiter=(1.0, 3.0),
        gains={"comp": (0, 4)}),
    # steady backbeat, 8th-note bass, clean synth chords, a vocal-like lead
    "pop": Recipe(
        tempo=(95, 130), swing16=(0.0, 0.1),
        kick=("x.......x.x.....", "x...x...x...x...", "x......xx......."), snare=("....x.......x...",),
        snare_kind="clap", hat=("x.x.x.x.x.x.x.x.", "xxxxxxxxxxxxxxxx"),
        kick_tone=(160, 48, 0.025, 0.3, 0.25),
        bass=("R.R.R.R.R.R.R.R.", "R--.R--.R-R-R---", "R-------R---5---"),
        bass_timbre=("bass_synth", "bass_finger", "bass_sub"),
        progressions=_TRIAD_POP, comp=("x.x.x.x.x.x.x.x.", "x---------------", "x--x--x---x--x--"),
        comp_timbre=("synth_pad", "piano", "clean_gtr", "epiano"),
        arp=("a.a.a.a.a.a.a.a.", ""), arp_timbre=("epiano", "piano"),
        lead_prob=0.7, lead_timbre=("synth_lead", "flute"), lead_scale="major_pent", lead_low=64,
        lead=("n.n.n-n-n---....", "..n.n.n.n-n-n---", "n---n.n.n---n---"),
        noise_db=(-65, -45), room=(0.05, 0.25), lowpass=(7000, 11000), limiter=(1.0, 2.5)),
    # one drop (kick and rim on beat 3), off-beat skank chords, deep dub bass with rests, dub echo
    "reggae": Recipe(
        tempo=(60, 90), swing8=(0.05, 0.25),
        kick=("........x.......", "x.......x......."), snare=("........x.......",), snare_kind="rim",
        hat=("x.x.x.x.x.x.x.x.",), kick_tone=(140, 55, 0.03, 0.3, 0.1), hat_decay=0.03,
        bass=("....R-.5R-..3-..", "R--.....5-.3R-..", "..R-R-..5-..R-.."),
        bass_timbre=("bass_dub", "bass_sub"), bass_low=31,
        progressions=(((0, "maj"), (5, "maj")), ((0, "min"), (5, "min")), ((0, "maj"), (7, "maj"))),
        bars_per_chord=(1, 2), comp=("..x...x...x...x.", "....x.......x..."),
        comp_timbre=("skank", "clean_gtr", "piano"), comp_center=64,
        arp=("..o.o...o.o...o.", ""), arp_timbre=("organ",),
        lead_prob=0.3, lead_timbre=("melodica", "sax"), lead_scale="minor_pent", lead_low=62,
        lead=("n---..n.n---....", "n-n-n---........"),
        noise_db=(-50, -32), crackle=0.3, room=(0.05, 0.2), lowpass=(3500, 9000), limiter=(0.0, 1.5),
        echo=(0.2, 0.5), gains={"bass": (1, 4)}),
    # backbeat, 8th-note bass, mildly distorted guitar chords, occasional lead and crashes
    "rock": Recipe(
        tempo=(105, 155), swing8=(0.0, 0.05),
        kick=("x.......x.x.....", "x.....x.x.......", "x...x...x...x..."), snare=("....x.......x...",),
        hat=("x.x.x.x.x.x.x.x.", "xxxxxxxxxxxxxxxx"), crash=True,
        kick_tone=(180, 50, 0.02, 0.25, 0.3), hat_decay=0.045,
        bass=("R.R.R.R.R.R.R.R.", "R-R-R-R-R-R-5-R-", "R---R---R---R---"),
        bass_timbre=("bass_pick", "bass_finger"),
        progressions=(((0, "maj"), (10, "maj"), (5, "maj"), (0, "maj")),
                      ((0, "5"), (5, "5"), (7, "5"), (5, "5")),
                      ((0, "maj"), (7, "maj"), (9, "min"), (5, "maj"))),
        comp=("x.x.x.x.x.x.x.x.", "x--.x--.x-x-x--.", "x-------x-------"),
        comp_timbre=("power_gtr", "clean_gtr", "organ"), comp_center=55, drive=(1.5, 7.0),
        lead_prob=0.4, lead_timbre=("lead_gtr",), lead_scale="minor_pent", lead_low=60,
        lead=("n.n.n-n-n---n.n.", "n---n-n-n-------"),
        noise_db=(-58, -38), room=(0.05, 0.25), lowpass=(4500, 10000), limiter=(0.5, 2.5),
        gains={"comp": (-1, 3)}),
}

