"""How the simulator reaches an app: a WSGI callable called directly (in-process), or any URL through httpx;
URLs resolved and checked as Twilio checks them (error 11100), HTTP redirects followed as Twilio follows them, and
cookies kept as Twilio keeps them: "Twilio accepts HTTP cookies and will include them in each request, just like a
normal web browser" (twilio.com/docs/voice/twiml), for the one call, so each call has its own jar (a second call
never sees the first one's session)."""

from __future__ import annotations

import io
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import unquote, urlencode, urljoin, urlsplit

import httpx

Client = httpx.Client  # a caller's own HTTP client for a live line (proxies, certificates)

def join(base: str, ref: str) -> str:
    """`ref` resolved against `base`, or `ref` as it is where it cannot be (`http://[::1`): the request for it
    then fails as Twilio's does, with error 11100."""
    try:
        return urljoin(base, ref)
    except ValueError:
        return ref


def url_problem(url: str) -> str | None:
    """Why Twilio could not request `url` (error 11100, invalid URL format), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is what raises on 'h:abc'
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http(s) URL"
    return None


@dataclass
class _Answer:
    status_code: int
    headers: dict[str, str]  # lower-case names
    text: str
    size: int = 0  # bytes of the body


class _Sent:
    """What `http.cookiejar` needs of a response: its Set-Cookie headers."""

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self.message = Message()
        for name, value in headers:
            if name.lower() == "set-cookie":
                self.message["Set-Cookie"] = value

    def info(self) -> Message:
        return self.message


def _cookie_header(jar: CookieJar | None, method: str, url: str) -> str | None:
    """The Cookie header the jar holds for `url`, or None."""
    if not jar:
        return None
    request = urllib.request.Request(url, method=method)
    jar.add_cookie_header(request)
    return request.get_header("Cookie")


def _keep_cookies(jar: CookieJar | None, method: str, url: str, headers: list[tuple[str, str]]) -> None:
    if jar is not None and any(name.lower() == "set-cookie" for name, _ in headers):
        jar.extract_cookies(_Sent(headers), urllib.request.Request(url, method=method))  # type: ignore[arg-type]


class _Wsgi:
    """Calls a WSGI app directly, the way a server would (an in-process simulated call makes five requests;
    httpx's client machinery would cost more than the app). Follows redirects as Twilio does."""

    def __init__(self, app: Callable[..., Any], base_url: str) -> None:
        self.app, self.base = app, urlsplit(base_url)

    def request(self, method: str, url: str, body: bytes, headers: Mapping[str, str],
                jar: CookieJar | None = None) -> _Answer:
        for _ in range(10):
            answer = self._once(method, url, body, headers, jar)
            if answer.status_code not in (301, 302, 303, 307, 308) or "location" not in answer.headers:
                return answer
            url = join(url, answer.headers["location"])
            if url_problem(url):
                return answer
            if answer.status_code in (301, 302, 303):
                method, body = "GET", b""
        return answer

    def _once(self, method: str, url: str, body: bytes, headers: Mapping[str, str],
              jar: CookieJar | None) -> _Answer:
        parts = urlsplit(url)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": unquote(parts.path) or "/",
            "QUERY_STRING": parts.query, "SERVER_NAME": parts.hostname or "localhost",
            "SERVER_PORT": str(parts.port or (443 if parts.scheme == "https" else 80)),
            "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": parts.netloc, "wsgi.version": (1, 0),
            "wsgi.url_scheme": parts.scheme or "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO(),
            "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(body)),
        }
        if body:
            environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
        cookie = _cookie_header(jar, method, url)
        if cookie:
            environ["HTTP_COOKIE"] = cookie
        started: list[Any] = []

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, response_headers]
            return lambda data: None

        chunks = self.app(environ, start_response)
        try:
            data = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status, response_headers = started
        _keep_cookies(jar, method, url, response_headers)
        return _Answer(int(status.split()[0]), {k.lower(): v for k, v in response_headers},
                       data.decode("utf-8", "replace"), len(data))


def with_query(url: str, params: Mapping[str, str]) -> str:
    query = str(httpx.QueryParams(dict(params)))
    return url + ("&" if "?" in url else "?") + query


class Unreachable(Exception):
    """The app gave no HTTP answer: `timeout` when it did not answer in time, else it could not be reached."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


class Transport:
    """Sends the simulator's requests to a WSGI callable in-process, or over HTTP to a base URL."""

    def __init__(self, target: str | Callable[..., Any], base_url: str, timeout: float,
                 client: httpx.Client | None = None) -> None:
        self.wsgi = _Wsgi(target, base_url) if not isinstance(target, str) and client is None else None
        self.client = client or httpx.Client(base_url=base_url, timeout=timeout + 1, follow_redirects=True)

    def send(self, method: str, url: str, params: Mapping[str, str], headers: Mapping[str, str],
             jar: CookieJar | None = None, form: str | None = None) -> _Answer:
        """One request: form-encoded parameters in the body of a POST (`form`, when the caller has them encoded
        already), in the query of a GET (`url` already carries them there), with the cookies of `jar` (a call's
        own), which keeps those the app sets. Raises Unreachable when no HTTP answer came."""
        try:
            if self.wsgi is not None:
                body = (form if form is not None else urlencode(params)).encode() if method != "GET" else b""
                return self.wsgi.request(method, url, body, headers, jar)
            # httpx keeps cookies in its client: lend it the call's jar for this request (a fresh one for a media
            # file: Twilio's media fetches belong to no call)
            self.client.cookies = jar if jar is not None else CookieJar()
            if method == "GET":
                response = self.client.get(url, headers=dict(headers))
            else:
                response = self.client.post(url, data=dict(params), headers=dict(headers))
        except httpx.TimeoutException as exc:
            raise Unreachable(str(exc), timeout=True) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise Unreachable(str(exc)) from None
        return _Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.text,
                       len(response.content))

    def close(self) -> None:
        self.client.close()
