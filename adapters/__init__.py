"""Brand-voice adapter: LoRA training, evaluation and loading for generation.

Not built yet: the brand-voice issue builds it.
"""
