"""Every architecture the registry names resolves to a model class (its own, or the one it is served as:
Ministral as Mistral, Qwen3.5-MoE as Qwen3.5, ...) that says what it computes. A typo in a module or class
name would otherwise surface only when a user serves that model."""

from multiscore.configs.model_kind import ModelKind
from multiscore.models import registry


def test_every_registered_architecture_resolves_to_a_model_class():
    unresolved = {}
    for architecture in registry._MODELS:
        try:
            cls = registry.get_model_class(architecture)
        except Exception as e:  # noqa: BLE001 - every failure is reported below, with its architecture
            unresolved[architecture] = repr(e)
            continue
        if not isinstance(getattr(cls, "kind", None), ModelKind):
            unresolved[architecture] = f"{cls.__name__} has no ModelKind"
    assert not unresolved, unresolved
    assert len(registry._MODELS) > 300
