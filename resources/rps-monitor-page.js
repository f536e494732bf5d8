/**
 * The monitor as a page of its own (for a wall screen), at <admin root>rps-monitor/.
 * It uses the editor's login: the token the editor keeps in this browser's local
 * storage, so it has the same permissions as the editor. Figures arrive over the
 * editor's comms websocket, as in the sidebar.
 */
(function (window) {
    'use strict';

    // <admin root>rps-monitor/ → <admin root>
    var adminRoot = window.location.pathname.replace(/rps-monitor\/?$/, '');
    // As the editor names its stored token: auth-tokens plus its path, slashes as dashes.
    var tokenKey = 'auth-tokens' + adminRoot.slice(0, -1).replace(/\//g, '-');

    function token() {
        try {
            var t = JSON.parse(window.localStorage.getItem(tokenKey));
            return t && t.access_token ? t.access_token : null;
        } catch (e) {
            return null;
        }
    }

    function request(method, path, body) {
        var headers = { Accept: 'application/json' };
        var t = token();
        if (t) {
            headers.Authorization = 'Bearer ' + t;
        }
        if (body !== undefined) {
            headers['Content-Type'] = 'application/json';
        }
        return fetch(adminRoot + path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body) }).then(function (res) {
            return res.json().catch(function () { return {}; }).then(function (json) {
                if (!res.ok) {
                    var err = new Error(json.error || json.message || res.status + ' ' + res.statusText);
                    err.status = res.status;
                    throw err;
                }
                return json;
            });
        });
    }

    /** The editor's comms: authenticate with the token, subscribe, and hand on what is pushed; reconnects. */
    function listen(onFigures) {
        var url = (window.location.protocol === 'https:' ? 'wss://' : 'ws://') + window.location.host + adminRoot + 'comms';
        var ws = new WebSocket(url);
        ws.onopen = function () {
            var t = token();
            ws.send(JSON.stringify(t ? { auth: t } : { subscribe: 'rps-monitor/figures' }));
        };
        ws.onmessage = function (event) {
            var data = JSON.parse(event.data);
            (Array.isArray(data) ? data : [data]).forEach(function (m) {
                if (m.auth === 'ok') {
                    ws.send(JSON.stringify({ subscribe: 'rps-monitor/figures' }));
                } else if (m.topic === 'rps-monitor/figures') {
                    onFigures(m.data);
                }
            });
        };
        ws.onclose = function () {
            setTimeout(function () { listen(onFigures); }, 5000);
        };
    }

    function permissions() {
        // Node-RED's settings say who is logged in and may do what (no user: no adminAuth, all may).
        return request('GET', 'settings').then(function (s) {
            var p = s.user ? s.user.permissions : '*';
            var list = Array.isArray(p) ? p : [p];
            return list.some(function (x) { return x === '*' || x === 'write' || x === '*.write' || x === 'rps-monitor.write'; });
        });
    }

    window.addEventListener('DOMContentLoaded', function () {
        var root = document.getElementById('rps-monitor');
        permissions().then(function (canWrite) {
            var view = window.RpsMonitorView.create(root, {
                canWrite: canWrite,
                reveal: function (id) {
                    window.open(adminRoot + '#node/' + encodeURIComponent(id), 'node-red-editor');
                },
                request: request
            });
            listen(function (figures) { view.pushed(figures); });
            window.addEventListener('resize', function () { view.render(); });
        }, function (err) {
            // Not logged in (or the server away): say so in the user's words, with the way to the editor.
            request('GET', 'rps-monitor/messages').catch(function () { return { view: {} }; }).then(function (texts) {
                var view = texts.view || {};
                root.textContent = '';
                var p = document.createElement('p');
                p.className = 'rps-monitor-login';
                p.setAttribute('data-login', '');
                p.textContent = (err.status === 401 ? view.login || err.message : err.message) + ' ';
                var a = document.createElement('a');
                a.href = adminRoot;
                a.textContent = view['open-editor'] || adminRoot;
                p.appendChild(a);
                root.appendChild(p);
            });
        });
    });
})(window);
