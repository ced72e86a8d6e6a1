"""Music of a whole song from its audio: rhythm, harmony, sections (`analyze_music` in `kellyd.song.music`)."""
