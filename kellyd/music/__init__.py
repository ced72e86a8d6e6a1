"""The music: pure functions over notes and arrays, tested without files."""
