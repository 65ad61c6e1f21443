"""Rasa custom actions: thin glue between Rasa's tracker and the store, policy and knowledge.

The action server (`python -m rasa_sdk --actions actions`) imports every module here.
"""
