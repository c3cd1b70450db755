"""TextStream: stop sequences across token boundaries, held-back text, split UTF-8."""

from __future__ import annotations

from core.generation.text import TextStream


def _decoder(pieces: dict[int, bytes]):  # type: ignore[no-untyped-def]
    def decode(ids: list[int]) -> str:
        return b"".join(pieces[i] for i in ids).decode("utf-8", errors="replace")

    return decode


def _run(stream: TextStream, ids: list[int]) -> list[str]:
    out = []
    for i in ids:
        out.append(stream.push(i))
        if stream.stopped:
            break
    if not stream.stopped:
        out.append(stream.finish())
    return out


def test_stop_sequence_split_over_tokens_is_cut_and_never_streamed() -> None:
    dec = _decoder({1: b"Hello ", 2: b"wor", 3: b"ld", 4: b" EN", 5: b"D more"})
    stream = TextStream(dec, stop=["END"])
    deltas = _run(stream, [1, 2, 3, 4, 5])
    assert stream.stopped
    assert stream.text == "Hello world "
    assert "".join(deltas) == "Hello world "
    assert all("E" not in d for d in deltas)


def test_prefix_of_stop_that_does_not_complete_is_released() -> None:
    dec = _decoder({1: b"a", 2: b"E", 3: b"N", 4: b"x"})
    stream = TextStream(dec, stop=["END"])
    assert stream.push(1) == "a"
    assert stream.push(2) == ""  # could be the start of END
    assert stream.push(3) == ""
    assert stream.push(4) == "ENx"
    assert not stream.stopped and stream.finish() == ""


def test_earliest_of_several_stop_sequences_wins() -> None:
    dec = _decoder({1: b"one two three"})
    stream = TextStream(dec, stop=["three", "two"])
    stream.push(1)
    assert stream.stopped and stream.text == "one "


def test_split_utf8_character_is_held_until_complete() -> None:
    snow = "\u2603".encode()  # 3 bytes
    dec = _decoder({1: b"x", 2: snow[:1], 3: snow[1:2], 4: snow[2:]})
    stream = TextStream(dec)
    deltas = [stream.push(i) for i in (1, 2, 3, 4)]
    assert deltas == ["x", "", "", "\u2603"]


def test_deltas_join_to_final_text_without_stops() -> None:
    dec = _decoder({i: f"w{i} ".encode() for i in range(10)})
    stream = TextStream(dec)
    deltas = _run(stream, list(range(10)))
    assert "".join(deltas) == stream.text == "".join(f"w{i} " for i in range(10))
