"""What Customer.io accepts: the message models, their rules and limits, semantic events,
deterministic ids, and the wire form (JSON encoding, ``/v1/batch`` packing).
"""
