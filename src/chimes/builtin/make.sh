#!/usr/bin/env bash
# Makes the built-in chimes: every tone is computed by ffmpeg's aevalsrc (sums of decaying sines, a bell-like
# timbre), faded in over 4 ms (no click) and encoded to Ogg Opus, 48 kHz mono, 48 kbit/s, with no metadata and
# bit-exact flags so a rerun gives the same files. Run from this folder: bash make.sh
# (In aevalsrc expressions a comma inside a function call is written \, because ',' separates filters.)
set -euo pipefail

# tone FILE EXPRESSION SECONDS: renders one chime.
tone() {
  ffmpeg -hide_banner -loglevel error -f lavfi -i "aevalsrc=exprs=$2:s=48000:d=$3" \
    -af afade=t=in:d=0.004 -c:a libopus -b:a 48k -ar 48000 -ac 1 -application audio \
    -map_metadata -1 -fflags +bitexact -flags:a +bitexact -y "$1"
}

# ding: one bell stroke on C6 (1046.5 Hz) with partials at 2x and 3x decaying faster; 1.0 s.
tone ding.ogg '0.35*(sin(2*PI*1046.5*t)*exp(-3.5*t)+0.45*sin(2*PI*2093*t)*exp(-6*t)+0.2*sin(2*PI*3139.5*t)*exp(-9*t))' 1.0

# dingdong: a doorbell, E5 (659.25 Hz) then C5 (523.25 Hz) 0.5 s later; 1.4 s.
tone dingdong.ogg '0.33*(sin(2*PI*659.25*t)*exp(-3*t)+0.3*sin(2*PI*1318.5*t)*exp(-6*t))+gte(t\,0.5)*0.33*(sin(2*PI*523.25*(t-0.5))*exp(-3*(t-0.5))+0.3*sin(2*PI*1046.5*(t-0.5))*exp(-6*(t-0.5)))' 1.4

# attention: three rising notes C5, E5, G5 (523.25, 659.25, 783.99 Hz), 0.16 s apart; 1.0 s.
tone attention.ogg '0.28*(sin(2*PI*523.25*t)*exp(-5*t)+gte(t\,0.16)*sin(2*PI*659.25*(t-0.16))*exp(-5*(t-0.16))+gte(t\,0.32)*sin(2*PI*783.99*(t-0.32))*exp(-4*(t-0.32)))' 1.0

# soft: a gentle low chord A4 + E5 (440, 659.25 Hz) that swells in over 0.15 s and dies away; 1.1 s.
tone soft.ogg '0.3*(1-exp(-20*t))*(sin(2*PI*440*t)+0.6*sin(2*PI*659.25*t))*exp(-3*t)' 1.1

# alert: two short 1 kHz beeps (0.12 s each, 0.08 s apart); 0.35 s.
tone alert.ogg '0.3*sin(2*PI*1000*t)*(lt(t\,0.12)+gte(t\,0.2)*lt(t\,0.32))' 0.35

# done: two falling notes G5 then C5 (783.99, 523.25 Hz), for chime_after; 0.9 s.
tone done.ogg '0.3*(sin(2*PI*783.99*t)*exp(-6*t)+gte(t\,0.18)*sin(2*PI*523.25*(t-0.18))*exp(-4*(t-0.18)))' 0.9
