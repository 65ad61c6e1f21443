"""The assistant's layers and its brands, each folder named for its role (lowest first):

- core/       settings, the brand's data (brand.py), policy rules, the order back end
- stack/      running the assistant: processes, Rasa training, the REST client, set-up
- gate/       the confidence gate: evidence, decision, typed thresholds, calibration search
- bench/      every benchmark and experiment, one report helper
- seed/       generators of the sample brand's data; the form-rules generator
- tandem/     the `tandem` command, one module per command group (imported by nothing)
- rasa_side/  code that runs inside the Rasa process (the other venv)
- brands/     one folder per brand: domain, data, documents, voice, gate, tests
- widget/     the web widget

knowledge/, adapters/ and actions/ sit beside bot/; tests/unit/test_layers.py keeps every
import pointing down.
"""
