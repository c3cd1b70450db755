"""Webhooks: endpoints (:mod:`.endpoints`), signing (:mod:`.signing`), the target guard
(:mod:`.targets`) and the delivery loop over the outbox (:mod:`.delivery`)."""
