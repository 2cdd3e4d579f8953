"""庁内連携 (intra-agency linkage hub): item catalogue, subscriptions by legal basis, delivery.

Business contexts never import one another; data between them moves through this package, which
checks the subscription and its legal basis and logs every transfer (seeds 000, 003).
"""
