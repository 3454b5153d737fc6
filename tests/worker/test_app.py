"""The job registry: only registered names resolve; nothing is imported from a payload."""

from __future__ import annotations

import pytest

from verk_compat.worker.app import App, UnknownJob


def test_functions_classes_and_methods_resolve() -> None:
    app = App()

    @app.job("Sync")
    def sync(x: int) -> int:
        return x

    @app.job()
    async def named_by_qualname() -> None:
        pass

    @app.job("Klass")
    class Klass:
        def perform(self) -> str:
            return "p"

        async def other(self) -> str:
            return "o"

        def _private(self) -> None:
            pass

    assert app.resolve("Sync").call(3) == 3 and not app.resolve("Sync").is_async
    assert app.resolve(named_by_qualname.__qualname__).is_async
    assert app.resolve("Klass").call() == "p"
    assert app.resolve("Klass", "other").is_async
    with pytest.raises(UnknownJob):
        app.resolve("Klass", "_private")
    with pytest.raises(UnknownJob):
        app.resolve("Klass", "missing")
    with pytest.raises(UnknownJob):
        app.resolve("Sync", "other")
    assert app.names == sorted(["Klass", "Sync", named_by_qualname.__qualname__])


def test_unregistered_names_never_resolve() -> None:
    app = App()
    for name in ("os.system", "subprocess.run", "builtins.eval", "Nope"):
        with pytest.raises(UnknownJob, match="no job registered"):
            app.resolve(name)


def test_registration_errors() -> None:
    app = App()
    with pytest.raises(TypeError):
        app.register("NoPerform", type("NoPerform", (), {}))
    app.register("A", print)
    with pytest.raises(ValueError):
        app.register("A", len)
    with pytest.raises(ValueError):
        app.register("", len)
