"""A song's own tags: read from ID3, Vorbis comments and FLAC; broken or missing tags never raise."""

from __future__ import annotations

import pytest

from kellyd.song.tags import parse_track, parse_year, read_tags
from tests.song.song_files import song, write_mp3_with_broken_tag, write_tagged_flac, write_untagged_ogg


@pytest.mark.parametrize("text, year", [("2004", 2004), ("2004-05-01", 2004), ("May 1999", 1999), ("", None),
                                        (None, None), ("12", None)])
def test_parse_year(text, year):
    assert parse_year(text) == year


@pytest.mark.parametrize("value, track", [("3", 3), ("3/12", 3), ((7, 12), 7), (0, None), ("side A", None),
                                          (None, None)])
def test_parse_track(value, track):
    assert parse_track(value) == track


@pytest.fixture(scope="module")
def signal():
    return song(3.0)


def test_flac_tags_and_stream_facts(tmp_path, signal):
    path = write_tagged_flac(tmp_path / "t.flac", *signal, title="Blue", artist="Kay", album="Days", date="2001-02-03",
                             genre="Pop", tracknumber="2/9")
    tags = read_tags(path)
    assert tags.labels() == {"title": "Blue", "artist": "Kay", "album": "Days", "year": 2001, "genre": "Pop",
                             "track_number": 2}
    assert tags.has_cover and tags.codec == "flac" and tags.container == "FLAC"
    assert tags.sample_rate_hz == signal[1] and tags.duration_s == pytest.approx(3.0, abs=0.01)
    assert tags.bitrate_kbps > 0 and tags.reason is None


def test_id3_tags_of_an_mp3(tmp_path, signal):
    import soundfile as sf
    from mutagen.id3 import APIC, ID3, TCON, TDRC, TIT2, TPE1, TRCK

    path = tmp_path / "s.mp3"
    sf.write(path, *signal, format="MP3")
    tag = ID3()
    for frame in (TIT2(text=["Song"]), TPE1(text=["Me"]), TDRC(text=["1999"]), TCON(text=["Jazz"]),
                  TRCK(text=["4/10"]), APIC(mime="image/png", type=3, data=b"png")):
        tag.add(frame)
    tag.save(path)
    tags = read_tags(path)
    assert tags.labels() == {"title": "Song", "artist": "Me", "year": 1999, "genre": "Jazz", "track_number": 4}
    assert tags.has_cover and tags.codec == "mp3"


def test_no_tags_gives_an_empty_result_with_the_reason(tmp_path, signal):
    tags = read_tags(write_untagged_ogg(tmp_path / "u.ogg", *signal))
    assert tags.labels() == {} and tags.codec == "vorbis" and tags.reason
    assert tags.duration_s == pytest.approx(3.0, abs=0.05)


def test_broken_tag_gives_a_reason_not_an_exception(tmp_path, signal):
    tags = read_tags(write_mp3_with_broken_tag(tmp_path / "b.mp3", *signal))
    assert tags.labels() == {}
    assert "unreadable tags" in tags.reason and "ID3" in tags.reason


@pytest.mark.parametrize("content", [b"", b"not audio at all", b"fLaC\x00\x00"])
def test_a_file_that_is_not_audio_gives_a_reason(tmp_path, content):
    path = tmp_path / "x.flac"
    path.write_bytes(content)
    tags = read_tags(path)
    assert tags.labels() == {} and tags.reason


def test_a_damaged_text_frame_keeps_no_control_characters(tmp_path, signal):
    from mutagen.flac import FLAC

    path = write_tagged_flac(tmp_path / "n.flac", *signal, title="ok")
    audio = FLAC(path)
    audio["title"] = "\x01\x02\x03\x04\x05\x06x"  # mostly noise
    audio["artist"] = "Kay\x00"
    audio.save()
    tags = read_tags(path)
    assert tags.title is None and tags.artist == "Kay"
