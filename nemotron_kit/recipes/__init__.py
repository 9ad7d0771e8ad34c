"""The built-in recipes: data_prep -> pretrain -> sft_data -> sft -> eval on a tiny GPT.

Each recipe module has ``main(cfg)`` (the ``recipe._target_`` of ``conf/recipe/NAME.yaml``).
torch is imported inside functions or by modules that only recipes import, so composing a
config or printing ``--help`` never loads it.
"""
