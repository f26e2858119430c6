"""Route templates match as the Functions host matches them."""

from devhost.routes import compile_route


def test_literal_route_is_case_insensitive() -> None:
    route = compile_route("OrderProcessing_Client")
    assert route.match("OrderProcessing_Client") == {}
    assert route.match("orderprocessing_client") == {}
    assert route.match("OrderProcessing_Client/extra") is None


def test_parameters_and_optional_tail() -> None:
    route = compile_route("orchestrators/{functionName}/{id?}")
    assert route.match("orchestrators/Hello") == {"functionName": "Hello"}
    assert route.match("orchestrators/Hello/abc%20d") == {"functionName": "Hello", "id": "abc d"}
    assert route.match("orchestrators") is None


def test_constraints_and_catch_all() -> None:
    assert compile_route("items/{id:int}").match("items/42") == {"id": "42"}
    assert compile_route("items/{id:int}").match("items/x") is None
    assert compile_route("files/{*path}").match("files/a/b/c.txt") == {"path": "a/b/c.txt"}
