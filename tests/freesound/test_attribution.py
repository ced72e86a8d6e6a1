from __future__ import annotations

from kellyd.freesound.attribution import attributions, render_html, render_markdown

CC_BY = "http://creativecommons.org/licenses/by/4.0/"


def sample(sound_id, *, license=CC_BY, author="alice", name=None, type="freesound", key="author", **extra):
    source = {"type": type, "license": license, key: author, "name": name or f"Sound {sound_id}",
              "url": f"https://freesound.org/people/{author}/sounds/{sound_id}/", "freesound_id": sound_id}
    return {"sample_id": f"s{sound_id}", "source": source, **extra}


def test_only_freesound_sounds_once_each_sorted_by_author():
    samples = [
        sample(2, author="zoe"), sample(1, author="Bob"), sample(1, author="Bob", parent_id="s1"),
        {"sample_id": "x", "source": {"type": "inbox"}}, {"sample_id": "y"},
        sample(3, author="carl", key="username"),
    ]
    items = attributions(samples)
    assert [(a.freesound_id, a.author) for a in items] == [(1, "Bob"), (3, "carl"), (2, "zoe")]


def test_what_each_licence_requires():
    by, nc, cc0, odd = attributions([
        sample(1, author="a"), sample(2, author="b", license="Attribution NonCommercial 3.0"),
        sample(3, author="c", license="http://creativecommons.org/publicdomain/zero/1.0/"),
        sample(4, author="d", license="some custom terms"),
    ])
    assert (by.license_label, by.requires_attribution, by.non_commercial) == ("CC BY 4.0", True, False)
    assert (nc.license_label, nc.non_commercial) == ("CC BY-NC 3.0", True)
    assert (cc0.license_label, cc0.requires_attribution) == ("CC0 1.0", False)
    assert (odd.license_label, odd.requires_attribution, odd.deed_url) == ("some custom terms", True, "")


def test_markdown_credits_title_author_source_and_licence():
    text = render_markdown(attributions([
        sample(1, author="alice", name="Rain *Piano*"),
        sample(2, author="bob", license="Attribution NonCommercial 4.0"),
        sample(3, author="carl", license="Creative Commons 0"),
    ]))
    assert ("- [Rain \\*Piano\\*](https://freesound.org/people/alice/sounds/1/) by alice, "
            "[CC BY 4.0](https://creativecommons.org/licenses/by/4.0/)") in text
    assert "by bob, [CC BY-NC 4.0](https://creativecommons.org/licenses/by-nc/4.0/) (non-commercial use only)" in text
    required, thanks = text.split("credit is not required")
    assert "carl" in thanks and "carl" not in required


def test_html_escapes_everything_and_links_only_http():
    html = render_html(attributions([
        sample(1, author="<script>alert(1)</script>", name='Bad "name" & co'),
        {"source": {"type": "freesound", "freesound_id": 5, "name": "x", "author": "e",
                    "url": "javascript:alert(1)", "license": CC_BY}},
    ]))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Bad &quot;name&quot; &amp; co" in html
    assert "javascript:" not in html
    assert html.startswith('<section class="freesound-attributions">') and html.endswith("</section>")


def test_no_freesound_sounds_says_so():
    assert "No Freesound sounds are used." in render_markdown(attributions([]))
    assert "No Freesound sounds are used." in render_html([])
