"""Rule-based synthesis of labelled MIDI: every generator returns a `Score` whose
labels are true by construction. `synthesize.synthesize` writes them to a dataset."""
