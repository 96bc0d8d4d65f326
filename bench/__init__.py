"""chatsvc's benchmark suite (DESIGN §12): `python -m bench` starts the real server and measures it."""
