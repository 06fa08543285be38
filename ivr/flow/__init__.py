"""The flow layer, pure but for YAML in the loader: what a phone line is (the model), how a flow file becomes one
(loader, references), what a caller's answer means (caller, intents), and how a call moves (engine).

Depends on pydantic and PyYAML only; imports nothing else of ivr but `ivr.errors` and `ivr.files`.
"""
