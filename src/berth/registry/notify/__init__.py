"""Webhook notifications: distribution's event envelope, HMAC signing, the persisted queue and the
delivery worker.

May import: berth.errors, aiohttp, and ``berth.registry.metadata`` (the tables live there).
Entry points: ``store.WebhookStore``, ``envelope.manifest_event``, ``worker.DeliveryWorker``.
"""
