"""The built-in recipes: data_prep -> pretrain -> sft_data -> sft -> eval on a tiny GPT.

Each recipe module declares ``main`` with ``@recipe`` (nemotron_kit.recipes.api), the same API
your own recipes use; ``conf/recipe/NAME.yaml`` links the option to it. torch is imported inside
functions or by modules that only recipes import, so composing a config or printing ``--help``
never loads it.
"""
