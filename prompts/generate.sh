#!/usr/bin/env bash
# Generates the OneVoicemail prompt fragments and prompts/manifest.toml from the text tables in
# prompts/texts/*.tsv, with espeak-ng (speech) and sox (telephone format).
#
# Why a script and not hand-made recordings: the greeting is stitched from ~200 fragments per
# language; regenerating all of them from one table keeps every fragment in the same voice,
# speed and level, and lets a reviewer read the spoken text beside the id.
#
# Output format (what the RTP player expects, no transcoding at call time):
#   8000 Hz, mono, 16-bit signed PCM WAV; leading and trailing silence trimmed (the IVR adds
#   its own pauses between words and clauses); loudness-normalised to one RMS level, -21
#   dBFS, so fragments stitch at one level (peak normalisation left them 7-10 dB apart: a short
#   loud digit next to a long word with pauses inside it); never clipped. The unit test
#   `speech::tests::every_prompt_is_within_2_db_of_the_target` checks every committed file.
#
# Reproducible and idempotent: sox runs with -R (fixed dither seed), every file is rendered into
# a temporary directory and only replaces the committed one when its bytes differ, so a second
# run changes nothing (and `git status` stays clean with the same espeak-ng/sox versions).
#
# Usage:
#   prompts/generate.sh                      # (re)generate every fragment and the manifest
#   prompts/generate.sh --name "Hans Hansen" --lang da --out DIR
#                                            # speak a user's name: writes DIR/name_da.wav
#   prompts/generate.sh --check              # exit 1 if any committed file would change
set -euo pipefail
export LC_ALL=C.UTF-8

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
langs=(da sv en)
# Speaking rate in words per minute: espeak-ng's default (175) is hurried on a phone line; 150 is
# close to an announcer's pace and keeps digits distinct.
speed=150
rate=8000
# The one loudness target, RMS over the trimmed fragment in dBFS. -21 dBFS (about -18 dBm0 on a
# G.711 line) is a normal talker's level on the phone and leaves room for speech's 12-21 dB
# crest factor. `TARGET_RMS_DBFS` in src/speech/level.rs must agree.
target_rms=-21

voice_for() {
    case "$1" in
        da) echo da ;;
        sv) echo sv ;;
        en) echo en-gb ;;
        *) echo "unknown language: $1" >&2; return 1 ;;
    esac
}

# speak LANG TEXT OUT: one fragment in the telephone format.
speak() {
    local lang="$1" text="$2" out="$3" raw mid rms
    raw="$(mktemp --suffix=.wav)"
    mid="$(mktemp --suffix=.wav)"
    espeak-ng -v "$(voice_for "$lang")" -s "$speed" -w "$raw" -- "$text"
    # silence 1 0.02 0.5%: drop sound below 0.5% until 20 ms of speech; done twice around
    # `reverse` to trim both ends. Headroom before `rate` (its filter overshoots on peaks); the
    # intermediate is float so the level step adds no second rounding.
    sox -R "$raw" -c 1 -b 32 -e floating-point "$mid" \
        silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse gain -n -6 rate "$rate"
    level "$mid" "$out"
    rm -f "$raw" "$mid"
}

# level IN OUT: IN brought to the RMS target as 16-bit PCM, by a plain gain: no limiter (sox's
# `gain -l` squeezes peaks from -6 dBFS on and lowers the RMS by up to 2 dB). Where the target
# would push a peak past -0.5 dBFS the gain stops there instead (no committed fragment: their
# crest factor is at most 21 dB; a long spoken name may be).
level() {
    local in="$1" out="$2" rms peak
    read -r rms peak < <(sox "$in" -n stats 2>&1 |
        awk '/^RMS lev dB/ { r = $4 } /^Pk lev dB/ { p = $4 } END { print r, p }')
    sox -R "$in" -b 16 -e signed-integer "$out" gain "$(awk -v t="$target_rms" -v r="$rms" \
        -v p="$peak" 'BEGIN { g = t - r; if (p + g > -0.5) g = -0.5 - p; printf "%.2f", g }')"
}

# install NEW DEST: replace DEST only when NEW differs (keeps mtimes and git clean).
install_if_changed() {
    local new="$1" dest="$2"
    mkdir -p "$(dirname "$dest")"
    if [[ -f "$dest" ]] && cmp -s "$new" "$dest"; then
        rm -f "$new"
        return 0
    fi
    if [[ "${check:-0}" == 1 ]]; then
        echo "would change: ${dest#"$here"/}" >&2
        changed=1
        rm -f "$new"
        return 0
    fi
    mv "$new" "$dest"
    echo "wrote ${dest#"$here"/}"
}

# toml_string TEXT: TEXT as a TOML basic string.
toml_string() {
    local s="$1"
    s="${s//\\/\\\\}"
    s="${s//\"/\\\"}"
    printf '"%s"' "$s"
}

# fragments LANG: "id<TAB>text" lines of a language, comments and blanks dropped.
fragments() {
    cat "$here/texts/$1.phrases.tsv" "$here/texts/$1.numbers.tsv" | grep -v -e '^#' -e '^$'
}

speak_name() {
    local name="$1" lang="$2" out="$3" tmp
    [[ -n "$name" && -n "$lang" && -n "$out" ]] || {
        echo "usage: $0 --name NAME --lang da|sv|en --out DIR" >&2
        exit 2
    }
    voice_for "$lang" >/dev/null
    mkdir -p "$out"
    tmp="$(mktemp --suffix=.wav)"
    speak "$lang" "$name" "$tmp"
    mv "$tmp" "$out/name_$lang.wav"
    echo "$out/name_$lang.wav"
}

generate_all() {
    local manifest lang id text
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    changed=0

    # Language-independent sounds: the record tone and two pause lengths. The tone is at the
    # speech level: at -3 dBFS peak (-6 dBFS RMS) it was 14 dB louder than the voice before it.
    sox -R -n -r "$rate" -c 1 -b 32 -e floating-point "$work/beep-f.wav" \
        synth 0.4 sine 1000 fade h 0.01 0.4 0.01
    level "$work/beep-f.wav" "$work/beep.wav"
    rm -f "$work/beep-f.wav"
    install_if_changed "$work/beep.wav" "$here/common/beep.wav"
    for ms in 200 400; do
        sox -R -n -r "$rate" -c 1 -b 16 -e signed-integer "$work/s.wav" trim 0 "0.$ms"
        install_if_changed "$work/s.wav" "$here/common/silence_${ms}ms.wav"
    done

    # Speech: two workers (the build machines have two cores).
    for lang in "${langs[@]}"; do
        mkdir -p "$work/$lang"
        fragments "$lang" | while IFS=$'\t' read -r id text; do
            printf '%s\0%s\0%s\0' "$lang" "$text" "$work/$lang/$id.wav"
        done
    done | xargs -0 -n 3 -P 2 bash -c "set -euo pipefail; $(declare -f voice_for speak level); speed=$speed rate=$rate target_rms=$target_rms speak \"\$@\"" _

    for lang in "${langs[@]}"; do
        fragments "$lang" | while IFS=$'\t' read -r id _; do
            install_if_changed "$work/$lang/$id.wav" "$here/$lang/$id.wav"
        done
        # Files left over from a fragment that was removed from the table.
        fragments "$lang" | cut -f1 >"$work/$lang.ids"
        for f in "$here/$lang"/*.wav; do
            [[ -e "$f" ]] || continue
            id="$(basename "$f" .wav)"
            if ! grep -qx -- "$id" "$work/$lang.ids"; then
                if [[ "${check:-0}" == 1 ]]; then
                    echo "would remove: $lang/$id.wav" >&2
                    changed=1
                else
                    rm -f "$f"
                    echo "removed $lang/$id.wav"
                fi
            fi
        done
    done

    # The manifest: one table per fragment id, one entry per language that has it.
    manifest="$work/manifest.toml"
    {
        echo "# Generated by prompts/generate.sh from prompts/texts/*.tsv; edit those, not this file."
        echo "# fragment id -> language -> { file (relative to prompts/), text (what is spoken) }."
        echo "# The \"common\" language holds sounds that are the same in every language."
        echo "format = \"wav pcm_s16le ${rate} Hz mono\""
        echo
        echo "[fragments.beep]"
        echo "common = { file = \"common/beep.wav\", text = \"(1000 Hz tone, 400 ms)\" }"
        for ms in 200 400; do
            echo
            echo "[fragments.silence_${ms}ms]"
            echo "common = { file = \"common/silence_${ms}ms.wav\", text = \"(${ms} ms of silence)\" }"
        done
        for lang in "${langs[@]}"; do fragments "$lang" >"$work/$lang.table"; done
        for id in $(cat "$work"/*.ids | awk '!seen[$0]++'); do
            echo
            echo "[fragments.$id]"
            for lang in "${langs[@]}"; do
                text="$(awk -F'\t' -v id="$id" '$1 == id { print $2 }' "$work/$lang.table")"
                [[ -n "$text" ]] || continue
                echo "$lang = { file = \"$lang/$id.wav\", text = $(toml_string "$text") }"
            done
        done
    } >"$manifest"
    install_if_changed "$manifest" "$here/manifest.toml"

    if [[ "${check:-0}" == 1 && "$changed" == 1 ]]; then
        exit 1
    fi
}

name="" lang="" out="" check=0 mode=all
while [[ $# -gt 0 ]]; do
    case "$1" in
        --name) name="${2-}"; mode=name; shift 2 ;;
        --lang) lang="${2-}"; shift 2 ;;
        --out) out="${2-}"; shift 2 ;;
        --check) check=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
done

case "$mode" in
    name) speak_name "$name" "$lang" "$out" ;;
    all) generate_all ;;
esac
