"""Webhooks per merchant: endpoints, the events they get (a durable table of deliveries, written in
the transaction of the change), signing, and the delivery job's claims and retries."""
