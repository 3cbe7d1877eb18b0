"""Host adapters (installed as ``inline_ai_gadgets``): Gadgetron 4 external gadget, replay, bench.

Everything that knows about sockets, wire protocols and hosts lives here; ``inline_ai`` does not.
"""
