"""Plumbing every Brobygger service needs: settings, logs, storage, outbox/inbox, Kafka, auth.

It knows nothing about any one service; services build on it and on `contracts`.
"""
