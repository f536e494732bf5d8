/**
 * The monitor's view, shared by the editor's sidebar tab (nodes/rps-monitor.html) and the
 * full page (rps-monitor-page.html): filters, remote systems with their actions, queue
 * depth, throughput and success charts (uPlot), processing times, the rows in error
 * with retry / skip / show node, and the attachment files received with retry. It draws the figures it is given (pushed over RED.comms
 * or fetched from the admin API); it never polls.
 *
 *   var view = RpsMonitorView.create(element, {
 *       request: function (method, path, body) { return Promise<json> },  // path under the admin root
 *       canWrite: boolean,
 *       reveal: function (nodeId) {},   // optional: show a node in the workspace
 *       pageUrl: '...',                 // optional: a link to the full page
 *       compact: boolean                // the narrow sidebar layout
 *   });
 *   view.pushed(figures);   // figures as the runtime pushed them (unfiltered)
 */
(function (window) {
    'use strict';

    if (window.RpsMonitorView) {
        return;
    }

    var DIRECTIONS = ['outbound', 'inbound'];

    /** Where this file was loaded from: uPlot (vendor/) is found next to it. */
    var scriptUrl = document.currentScript && document.currentScript.src ? document.currentScript.src : '';
    var chartLibrary = null;

    /**
     * Loads the chart library once, after the view: the editor loads a plugin's scripts
     * one by one before it finishes starting, so a script that failed to load there
     * would hold the whole editor; here it only leaves the charts out.
     */
    function loadCharts() {
        if (!chartLibrary) {
            chartLibrary = new Promise(function (resolve) {
                if (window.uPlot) {
                    resolve(true);
                    return;
                }
                // The editor evaluates a plugin's scripts as text (no src): its resources are under the admin root.
                var root = window.RED && RED.settings && RED.settings.apiRootUrl ? RED.settings.apiRootUrl : '';
                var base = /rps-monitor-view\.js/.test(scriptUrl) ? scriptUrl.replace(/[^/]*$/, '') : root + 'resources/@node-red-rps/remote-process-sync/';
                var css = document.createElement('link');
                css.rel = 'stylesheet';
                css.href = base + 'vendor/uPlot.min.css';
                document.head.appendChild(css);
                var script = document.createElement('script');
                script.src = base + 'vendor/uPlot.iife.min.js';
                script.onload = function () { resolve(true); };
                script.onerror = function () { resolve(false); };
                document.head.appendChild(script);
            });
        }
        return chartLibrary;
    }
    var STATUSES = ['ready', 'processing', 'error', 'processed', 'skipped'];

    function el(tag, attrs, children) {
        var e = document.createElement(tag);
        Object.keys(attrs || {}).forEach(function (k) {
            if (k === 'text') {
                e.textContent = attrs[k];
            } else if (k === 'className') {
                e.className = attrs[k];
            } else if (k.indexOf('on') === 0) {
                e.addEventListener(k.slice(2), attrs[k]);
            } else if (attrs[k] !== undefined && attrs[k] !== null && attrs[k] !== false) {
                e.setAttribute(k, attrs[k] === true ? '' : attrs[k]);
            }
        });
        (children || []).forEach(function (c) {
            if (c !== null && c !== undefined) {
                e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
            }
        });
        return e;
    }

    function fill(template, params) {
        return String(template).replace(/__(\w+)__/g, function (m, name) {
            return params && params[name] !== undefined ? params[name] : m;
        });
    }

    function duration(ms) {
        if (ms === null || ms === undefined) {
            return '–';
        }
        if (ms < 1000) {
            return Math.round(ms) + ' ms';
        }
        var s = ms / 1000;
        if (s < 60) {
            return (s < 10 ? s.toFixed(1) : Math.round(s)) + ' s';
        }
        var m = s / 60;
        if (m < 60) {
            return Math.round(m) + ' min';
        }
        var h = m / 60;
        return h < 48 ? h.toFixed(1) + ' h' : Math.round(h / 24) + ' d';
    }

    function percent(rate) {
        return rate === null || rate === undefined ? '–' : (rate * 100).toFixed(rate >= 0.999 || rate < 0.01 ? 0 : 1) + ' %';
    }

    function bytes(n) {
        if (n < 1024) {
            return n + ' B';
        }
        var units = ['KB', 'MB', 'GB', 'TB'];
        var v = n / 1024;
        var i = 0;
        while (v >= 1024 && i < units.length - 1) {
            v /= 1024;
            i++;
        }
        return (v < 10 ? v.toFixed(1) : Math.round(v)) + ' ' + units[i];
    }

    function time(at) {
        if (!at) {
            return '–';
        }
        var d = new Date(at);
        var today = new Date();
        return d.toDateString() === today.toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
    }

    function create(root, options) {
        var texts = {};
        var figures = null;
        var latestPushed = null;
        var filter = { store: '', remoteSystem: '', processEvent: '' };
        var selected = {};
        /** Payloads read on demand (pushed figures carry none), by row key. */
        var payloads = {};

        /** A row's payload from the API (read permission), into `pre`, and kept for the redraws. */
        function loadPayload(r, key, pre) {
            payloads[key] = '';
            pre.textContent = t('view.loading');
            var q = '?store=' + encodeURIComponent(r.store) + '&direction=' + encodeURIComponent(r.direction) + '&id=' + encodeURIComponent(r.id);
            options.request('GET', 'rps-monitor/payload' + q).then(function (answer) {
                payloads[key] = answer.payload;
                pre.textContent = answer.payload;
            }, function (err) {
                delete payloads[key];
                pre.textContent = t('view.load-failed', { error: err.message });
            });
        }

        /** The error rows whose payload the user opened (kept open across redraws). */
        var openPayloads = {};
        var charts = [];
        var message = '';
        var busy = false;

        function t(key, params) {
            var parts = key.split('.');
            var v = texts;
            for (var i = 0; i < parts.length && v; i++) {
                v = v[parts[i]];
            }
            return typeof v === 'string' ? fill(v, params) : key;
        }

        function filtered() {
            return !!(filter.store || filter.remoteSystem || filter.processEvent);
        }

        function query() {
            var q = [];
            Object.keys(filter).forEach(function (k) {
                if (filter[k]) {
                    q.push(encodeURIComponent(k) + '=' + encodeURIComponent(filter[k]));
                }
            });
            return q.length ? '?' + q.join('&') : '';
        }

        function load() {
            return options.request('GET', 'rps-monitor/figures' + query()).then(function (f) {
                figures = f;
                render();
            }, function (err) {
                message = t('view.load-failed', { error: err.message });
                render();
            });
        }

        /**
         * Posts `requests` ({path, body}) one after the other, then says `done` of the last
         * answer with the rows counted over all of them, and reloads. One at a time: while
         * one is on its way the buttons are disabled and another click does nothing.
         */
        function act(requests, done) {
            if (busy) {
                return;
            }
            busy = true;
            message = '';
            render();
            var count = 0;
            var last = {};
            requests.reduce(function (previous, r) {
                return previous.then(function () {
                    return options.request('POST', r.path, r.body).then(function (answer) {
                        last = answer || {};
                        count += last.count || 0;
                    });
                });
            }, Promise.resolve()).then(function () {
                busy = false;
                message = done(Object.assign({}, last, { count: count }));
                selected = {};
                return load();
            }, function (err) {
                busy = false;
                message = t('view.action-failed', { error: err.message });
                // Some requests may have gone through before the one that failed.
                load();
            });
        }

        /** Retry or skip rows: row ids are per store and queue, so one request per (store, direction). */
        function rowAction(kind, rows) {
            act(groups(rows).map(function (g) {
                return { path: 'rps-monitor/' + kind, body: { store: g[0].store, direction: g[0].direction, ids: g.map(function (r) { return r.id; }) } };
            }), function (a) {
                return t('view.' + kind + '-done', { count: a.count });
            });
        }

        function allAction(kind) {
            var body = { all: true };
            Object.keys(filter).forEach(function (k) {
                if (filter[k]) {
                    body[k] = filter[k];
                }
            });
            act([{ path: 'rps-monitor/' + kind, body: body }], function (a) {
                return t('view.' + kind + '-done', { count: a.count });
            });
        }

        function remoteAction(remote, kind) {
            act([{ path: 'rps-monitor/remote/' + encodeURIComponent(remote.id) + '/' + kind, body: {} }], function (a) {
                if (kind === 'validate') {
                    return a.ok ? t('view.validated', { name: remote.name }) : t('view.not-validated', { name: remote.name });
                }
                return t('view.' + kind + 'd', { name: remote.name });
            });
        }

        function select(label, key, choices) {
            var s = el('select', {
                'data-filter': key,
                onchange: function () {
                    filter[key] = s.value;
                    selected = {};
                    // Asked now, filtered or not: pushed figures have no payloads and fewer error rows.
                    load();
                }
            }, [el('option', { value: '', text: t('view.all', { what: label }) })].concat(choices.map(function (c) {
                return el('option', { value: c.value, text: c.label, selected: c.value === filter[key] });
            })));
            return el('label', { className: 'rps-monitor-filter' }, [label + ' ', s]);
        }

        function filters(f) {
            var remotes = f.remotes.slice();
            // A filtered answer lists only the remote filtered on: keep the others from the last unfiltered figures.
            if (latestPushed) {
                latestPushed.remotes.forEach(function (r) {
                    if (!remotes.some(function (x) { return x.id === r.id; })) {
                        remotes.push(r);
                    }
                });
            }
            var events = (latestPushed ? latestPushed.processEvents : []).concat(f.processEvents).filter(function (e, i, all) {
                return all.indexOf(e) === i;
            }).sort();
            return el('div', { className: 'rps-monitor-filters' }, [
                select(t('view.store'), 'store', f.stores.map(function (s) { return { value: s.id, label: s.label }; })),
                select(t('view.remote-system'), 'remoteSystem', remotes.map(function (r) { return { value: r.id, label: r.name }; })),
                select(t('view.process-event'), 'processEvent', events.map(function (e) { return { value: e, label: e }; })),
                options.pageUrl ? el('a', { href: options.pageUrl, target: '_blank', className: 'rps-monitor-page-link', text: t('view.open-page') }) : null
            ]);
        }

        function stateBadge(state, paused) {
            var s = paused ? 'paused' : state;
            return el('span', { className: 'rps-monitor-state rps-monitor-state-' + s, 'data-state': s, text: t('state.' + s) });
        }

        function button(label, onclick, attrs) {
            var b = el('button', Object.assign({ type: 'button', className: 'red-ui-button red-ui-button-small', onclick: onclick, disabled: busy || !options.canWrite, title: options.canWrite ? '' : t('view.read-only') }, attrs || {}), [label]);
            return b;
        }

        function remotesTable(f) {
            if (f.remotes.length === 0) {
                return el('p', { className: 'rps-monitor-empty', text: t('view.no-remotes') });
            }
            // The narrow sidebar has no room for a column of errors: the last one goes under the name.
            var heads = options.compact ? [t('view.remote-system'), t('view.outbound'), t('view.inbound'), ''] : [t('view.remote-system'), t('view.outbound'), t('view.inbound'), t('view.last-error'), ''];
            return el('table', { className: 'rps-monitor-table', 'data-section': 'remotes' }, [
                el('thead', {}, [el('tr', {}, heads.map(function (h) { return el('th', { text: h }); }))]),
                el('tbody', {}, f.remotes.map(function (r) {
                    var lastError = el('div', { className: 'rps-monitor-error-text', text: r.outboundError || r.inboundError || '' });
                    return el('tr', { 'data-remote': r.id }, [
                        el('td', {}, options.compact ? [r.name, lastError] : [r.name]),
                        el('td', {}, [stateBadge(r.outbound, r.paused)]),
                        el('td', {}, [stateBadge(r.inbound, r.paused)]),
                        options.compact ? null : el('td', {}, [lastError]),
                        el('td', { className: 'rps-monitor-actions' }, [
                            button(t('view.validate'), function () { remoteAction(r, 'validate'); }, { 'data-action': 'validate' }),
                            r.paused
                                ? button(t('view.resume'), function () { remoteAction(r, 'resume'); }, { 'data-action': 'resume' })
                                : button(t('view.pause'), function () { remoteAction(r, 'pause'); }, { 'data-action': 'pause' })
                        ])
                    ]);
                }))
            ]);
        }

        function tile(label, value, key) {
            return el('div', { className: 'rps-monitor-tile', 'data-figure': key }, [el('div', { className: 'rps-monitor-tile-value', text: String(value) }), el('div', { className: 'rps-monitor-tile-label', text: label })]);
        }

        function tiles(f) {
            return el('div', { className: 'rps-monitor-tiles' }, DIRECTIONS.map(function (d) {
                var w = f.windows[d];
                var depth = f.depth[d];
                return el('div', { className: 'rps-monitor-direction', 'data-direction': d }, [
                    el('h4', { text: t('view.' + d) }),
                    el('div', { className: 'rps-monitor-tile-row' }, [
                        tile(t('view.waiting'), depth.ready + depth.processing, d + '.waiting'),
                        tile(t('view.errors-now'), depth.error, d + '.error'),
                        tile(t('view.oldest'), duration(depth.oldestWaitingAgeMs), d + '.oldest'),
                        tile(t('view.last-processed'), time(depth.lastProcessedAt), d + '.last'),
                        tile(t('view.per-minute'), w.minute.processed, d + '.minute'),
                        tile(t('view.per-hour'), w.hour.processed, d + '.hour'),
                        tile(t('view.per-day'), w.day.processed, d + '.day'),
                        tile(t('view.errors-day'), w.day.errors, d + '.errorsDay'),
                        tile(t('view.success'), percent(w.day.successRate), d + '.success'),
                        tile(t('view.average'), duration(w.day.averageMs), d + '.average'),
                        tile(t('view.p95'), duration(w.day.p95Ms), d + '.p95')
                    ])
                ]);
            }));
        }

        function queuesTable(f) {
            if (f.queues.length === 0) {
                return el('p', { className: 'rps-monitor-empty', text: t('view.no-rows') });
            }
            function counts(q) {
                return STATUSES.map(function (s) {
                    return el('td', { className: 'rps-monitor-number', 'data-status': s, text: String(q.counts[s]) });
                });
            }
            if (options.compact) {
                // Ten columns do not fit the sidebar: each queue's name and times on a row, its counts on the next.
                return el('table', { className: 'rps-monitor-table rps-monitor-queues-compact', 'data-section': 'queues' }, [
                    el('thead', {}, [el('tr', {}, STATUSES.map(function (s) { return el('th', { className: 'rps-monitor-number', text: t('status.' + s) }); }))]),
                    el('tbody', {}, [].concat.apply([], f.queues.map(function (q) {
                        return [
                            el('tr', { className: 'rps-monitor-queue-name' }, [el('td', { colspan: STATUSES.length }, [
                                el('strong', { text: q.remoteName + ' · ' + q.processEvent }), ' ' + t('view.' + q.direction),
                                el('div', { className: 'rps-monitor-note', text: t('view.oldest') + ' ' + duration(q.oldestWaitingAgeMs) + ' · ' + t('view.last-processed') + ' ' + time(q.lastProcessedAt) })
                            ])]),
                            el('tr', { 'data-queue': q.direction + '/' + q.remoteSystem + '/' + q.processEvent }, counts(q))
                        ];
                    })))
                ]);
            }
            return el('table', { className: 'rps-monitor-table', 'data-section': 'queues' }, [
                el('thead', {}, [el('tr', {}, [t('view.remote-system'), t('view.process-event'), t('view.direction')].concat(STATUSES.map(function (s) { return t('status.' + s); })).concat([t('view.oldest'), t('view.last-processed')]).map(function (h) { return el('th', { text: h }); }))]),
                el('tbody', {}, f.queues.map(function (q) {
                    return el('tr', { 'data-queue': q.direction + '/' + q.remoteSystem + '/' + q.processEvent }, [
                        el('td', { text: q.remoteName }),
                        el('td', { text: q.processEvent }),
                        el('td', { text: t('view.' + q.direction) })
                    ].concat(counts(q)).concat([
                        el('td', { text: duration(q.oldestWaitingAgeMs) }),
                        el('td', { text: time(q.lastProcessedAt) })
                    ]));
                }))
            ]);
        }

        /** Series points as uPlot columns, with the steps that had no rows filled in as 0. */
        function columns(points, from, step, count) {
            var byAt = {};
            points.forEach(function (p) { byAt[p.at] = p; });
            var xs = [], op = [], ip = [], errs = [], rate = [];
            for (var i = 0; i < count; i++) {
                var at = from + i * step;
                var p = byAt[at] || { outbound: { processed: 0, errors: 0 }, inbound: { processed: 0, errors: 0 } };
                var done = p.outbound.processed + p.inbound.processed;
                var failed = p.outbound.errors + p.inbound.errors;
                xs.push(at / 1000);
                op.push(p.outbound.processed);
                ip.push(p.inbound.processed);
                errs.push(failed);
                rate.push(done + failed > 0 ? (100 * done) / (done + failed) : null);
            }
            return { xs: xs, op: op, ip: ip, errs: errs, rate: rate };
        }

        /** A uPlot chart of `data` in a box marked data-chart=`key`; `yRange` fixes the y scale (else it fits the data). */
        function chart(title, key, data, series, width, yRange) {
            var box = el('div', { className: 'rps-monitor-chart', 'data-chart': key }, [el('h4', { text: title })]);
            if (!window.uPlot) {
                box.appendChild(el('p', { className: 'rps-monitor-empty', text: t('view.no-charts') }));
                return box;
            }
            var plot = new window.uPlot({
                width: width,
                height: options.compact ? 140 : 200,
                legend: { show: !options.compact },
                scales: yRange ? { x: { time: true }, y: { range: yRange } } : { x: { time: true } },
                series: [{}].concat(series),
                axes: [{}, { size: 40 }]
            }, data, box);
            charts.push(plot);
            return box;
        }

        function chartsOf(f) {
            var now = f.at;
            var minute = 60000, hour = 3600000;
            var hourFrom = Math.floor(now / minute) * minute - 59 * minute;
            var dayFrom = Math.floor(now / hour) * hour - 23 * hour;
            var h = columns(f.series.hour, hourFrom, minute, 60);
            var d = columns(f.series.day, dayFrom, hour, 24);
            var width = Math.max(200, (root.clientWidth || 600) - (options.compact ? 20 : 40));
            if (!options.compact) {
                width = Math.max(300, Math.floor(width / 3) - 16);
            }
            var lines = [
                { label: t('view.outbound'), stroke: '#3d7ab8', width: 2 },
                { label: t('view.inbound'), stroke: '#5a9a3d', width: 2 },
                { label: t('view.errors'), stroke: '#c0392b', width: 2 }
            ];
            return el('div', { className: 'rps-monitor-charts' }, [
                chart(t('view.chart-hour'), 'hour', [h.xs, h.op, h.ip, h.errs], lines, width),
                chart(t('view.chart-day'), 'day', [d.xs, d.op, d.ip, d.errs], lines, width),
                // Hours without rows have no rate (null): an hour between two of those, or the only
                // hour with rows, has no line to either side, so its point is always drawn. A rate
                // is a percentage: the scale is 0 to 100 whatever the data.
                chart(t('view.chart-success'), 'success', [d.xs, d.rate], [{ label: t('view.success'), stroke: '#5a9a3d', fill: 'rgba(90,154,61,0.15)', width: 2, points: { show: true, size: 6 } }], width, [0, 100])
            ]);
        }

        function errorsSection(f) {
            var rows = f.errors.rows;
            var chosen = rows.filter(function (r) { return selected[r.store + '/' + r.direction + '/' + r.id]; });
            var head = el('div', { className: 'rps-monitor-errors-head' }, [
                el('h4', { text: t('view.errors-list', { shown: rows.length, total: f.errors.total }) }),
                button(t('view.retry-selected'), function () { rowAction('retry', chosen); }, { 'data-action': 'retry-selected', disabled: busy || !options.canWrite || chosen.length === 0 }),
                button(t('view.skip-selected'), function () { rowAction('skip', chosen); }, { 'data-action': 'skip-selected', disabled: busy || !options.canWrite || chosen.length === 0 }),
                button(t('view.retry-all'), function () { allAction('retry'); }, { 'data-action': 'retry-all', disabled: busy || !options.canWrite || f.errors.total === 0 }),
                button(t('view.skip-all'), function () { allAction('skip'); }, { 'data-action': 'skip-all', disabled: busy || !options.canWrite || f.errors.total === 0 })
            ]);
            if (rows.length === 0) {
                return el('div', { 'data-section': 'errors' }, [head, el('p', { className: 'rps-monitor-empty', text: t('view.no-errors') })]);
            }
            // Only the payloads of rows still listed are kept.
            var kept = {};
            rows.forEach(function (r) {
                var k = r.store + '/' + r.direction + '/' + r.id;
                if (payloads[k] !== undefined) {
                    kept[k] = payloads[k];
                }
            });
            payloads = kept;
            var heads = options.compact ? ['', t('view.record'), ''] : ['', t('view.time'), t('view.remote-system'), t('view.process-event'), t('view.record'), t('view.error'), t('view.attempts'), ''];
            return el('div', { 'data-section': 'errors' }, [head, el('table', { className: 'rps-monitor-table' }, [
                el('thead', {}, [el('tr', {}, heads.map(function (h) { return el('th', { text: h }); }))]),
                el('tbody', {}, rows.map(function (r) {
                    var key = r.store + '/' + r.direction + '/' + r.id;
                    var box = el('input', { type: 'checkbox', checked: !!selected[key], disabled: !options.canWrite, onchange: function () { selected[key] = box.checked; render(); } });
                    var where = r.remoteName + ' (' + t('view.' + r.direction) + ')';
                    // Kept by row: figures fetched with payloads and pushed ones without draw the same.
                    if (r.payload !== undefined) {
                        payloads[key] = r.payload;
                    }
                    var pre = el('pre', { text: payloads[key] || '' });
                    var payload = el('details', {
                        open: !!openPayloads[key],
                        ontoggle: function () {
                            openPayloads[key] = payload.open;
                            if (payload.open && payloads[key] === undefined) {
                                loadPayload(r, key, pre);
                            }
                        }
                    }, [el('summary', { text: t('view.payload') }), pre]);
                    var error = [r.error, payload];
                    var actions = el('td', { className: 'rps-monitor-actions' }, [
                        button(t('view.retry'), function () { rowAction('retry', [r]); }, { 'data-action': 'retry' }),
                        button(t('view.skip'), function () { rowAction('skip', [r]); }, { 'data-action': 'skip' }),
                        r.handler && options.reveal ? el('button', { type: 'button', className: 'red-ui-button red-ui-button-small', 'data-action': 'reveal', onclick: function () { options.reveal(r.handler); } }, [t('view.show-node')]) : null
                    ]);
                    if (options.compact) {
                        // The sidebar's width: the row's facts stacked in one cell, its buttons in the next.
                        return el('tr', { 'data-row': key }, [
                            el('td', {}, [box]),
                            el('td', {}, [
                                el('strong', { text: r.record }),
                                el('div', { className: 'rps-monitor-note', text: [time(r.at), where, r.processEvent, t('view.attempts') + ' ' + r.attempts].join(' · ') }),
                                el('div', { className: 'rps-monitor-error-text' }, error)
                            ]),
                            actions
                        ]);
                    }
                    return el('tr', { 'data-row': key }, [
                        el('td', {}, [box]),
                        el('td', { text: time(r.at) }),
                        el('td', { text: where }),
                        el('td', { text: r.processEvent }),
                        el('td', { text: r.record }),
                        el('td', { className: 'rps-monitor-error-text' }, error),
                        el('td', { className: 'rps-monitor-number', text: String(r.attempts) }),
                        actions
                    ]);
                }))
            ])]);
        }

        /** Retry attachment files in error: their ids are per store, so one request per store. */
        function fileRetry(rows) {
            var byStore = {};
            rows.forEach(function (r) {
                (byStore[r.store] = byStore[r.store] || []).push(r.id);
            });
            act(Object.keys(byStore).map(function (store) {
                return { path: 'rps-monitor/files/retry', body: { store: store, ids: byStore[store] } };
            }), function (a) {
                return t('view.files-retry-done', { count: a.count });
            });
        }

        /** Attachment files received, per remote system: waiting (any step before the flow stored them), in error, refused, stored. */
        function filesSection(f) {
            var files = f.files;
            if (!files) {
                return null;
            }
            var parts = [el('h3', { text: t('view.files') })];
            // A remote system without files is counted (all 0): the table is left out until some file came.
            var none = files.counts.every(function (c) {
                return Object.keys(c.counts).every(function (st) { return c.counts[st] === 0; });
            });
            if (none && files.errors.total === 0) {
                parts.push(el('p', { className: 'rps-monitor-empty', text: t('view.no-files') }));
                return el('div', { 'data-section': 'files' }, parts);
            }
            var columns = [
                { key: 'waiting', label: t('view.files-waiting'), of: function (c) { return c.wanted + c.requested + c.staged + c.processing; } },
                { key: 'error', label: t('view.files-error'), of: function (c) { return c.error; } },
                { key: 'refused', label: t('view.files-refused'), of: function (c) { return c.refused; } },
                { key: 'stored', label: t('view.files-stored'), of: function (c) { return c.stored; } }
            ];
            parts.push(el('table', { className: 'rps-monitor-table' }, [
                el('thead', {}, [el('tr', {}, [el('th', { text: t('view.remote-system') })].concat(columns.map(function (c) {
                    return el('th', { className: 'rps-monitor-number', text: c.label });
                })))]),
                el('tbody', {}, files.counts.map(function (c) {
                    return el('tr', { 'data-files-remote': c.store + '/' + c.remoteSystem }, [el('td', { text: c.remoteName })].concat(columns.map(function (col) {
                        return el('td', { className: 'rps-monitor-number', 'data-status': col.key, text: String(col.of(c.counts)) });
                    })));
                }))
            ]));
            var rows = files.errors.rows;
            parts.push(el('div', { className: 'rps-monitor-errors-head' }, [
                el('h4', { text: t('view.file-errors', { shown: rows.length, total: files.errors.total }) }),
                button(t('view.files-retry-shown'), function () { fileRetry(rows); }, { 'data-action': 'retry-files', disabled: busy || !options.canWrite || rows.length === 0 })
            ]));
            if (rows.length === 0) {
                return el('div', { 'data-section': 'files' }, parts);
            }
            var heads = options.compact ? [t('view.file'), ''] : [t('view.time'), t('view.remote-system'), t('view.file'), t('view.record'), t('view.error'), t('view.attempts'), ''];
            parts.push(el('table', { className: 'rps-monitor-table' }, [
                el('thead', {}, [el('tr', {}, heads.map(function (h) { return el('th', { text: h }); }))]),
                el('tbody', {}, rows.map(function (r) {
                    var name = r.fileName + ' (' + bytes(r.size) + ')';
                    var retry = el('td', { className: 'rps-monitor-actions' }, [button(t('view.retry'), function () { fileRetry([r]); }, { 'data-action': 'retry-file' })]);
                    var key = r.store + '/' + r.id;
                    if (options.compact) {
                        return el('tr', { 'data-file': key }, [
                            el('td', {}, [
                                el('strong', { text: name }),
                                el('div', { className: 'rps-monitor-note', text: [time(r.at), r.remoteName, r.target, t('view.attempts') + ' ' + r.attempts].join(' · ') }),
                                el('div', { className: 'rps-monitor-error-text', text: r.error })
                            ]),
                            retry
                        ]);
                    }
                    return el('tr', { 'data-file': key }, [
                        el('td', { text: time(r.at) }),
                        el('td', { text: r.remoteName }),
                        el('td', { text: name }),
                        el('td', { text: r.target }),
                        el('td', { className: 'rps-monitor-error-text', text: r.error }),
                        el('td', { className: 'rps-monitor-number', text: String(r.attempts) }),
                        retry
                    ]);
                }))
            ]));
            return el('div', { 'data-section': 'files' }, parts);
        }

        /** Selected rows by (store, direction): ids name rows of one queue. */
        function groups(rows) {
            var by = {};
            rows.forEach(function (r) {
                var k = r.store + '/' + r.direction;
                (by[k] = by[k] || []).push(r);
            });
            return Object.keys(by).map(function (k) { return by[k]; });
        }

        function render() {
            // Held at its height while it is drawn again (pushed figures redraw it every few
            // seconds): emptied, it would let the sidebar or page scroll back to the top.
            root.style.minHeight = root.offsetHeight + 'px';
            try {
                draw();
            } finally {
                root.style.minHeight = '';
            }
        }

        function draw() {
            charts.forEach(function (c) { c.destroy(); });
            charts = [];
            root.textContent = '';
            root.classList.add('rps-monitor');
            root.classList.toggle('rps-monitor-compact', !!options.compact);
            if (!figures) {
                root.appendChild(el('p', { className: 'rps-monitor-empty', text: message || t('view.loading') }));
                return;
            }
            var f = figures;
            root.appendChild(filters(f));
            if (message) {
                root.appendChild(el('p', { className: 'rps-monitor-message', 'data-message': '', text: message }));
            }
            if (!options.canWrite) {
                root.appendChild(el('p', { className: 'rps-monitor-note', 'data-read-only': '', text: t('view.read-only') }));
            }
            root.appendChild(el('h3', { text: t('view.remote-systems') }));
            root.appendChild(remotesTable(f));
            root.appendChild(tiles(f));
            root.appendChild(chartsOf(f));
            root.appendChild(el('h3', { text: t('view.queues') }));
            root.appendChild(queuesTable(f));
            root.appendChild(errorsSection(f));
            var filesPart = filesSection(f);
            if (filesPart) {
                root.appendChild(filesPart);
            }
            root.appendChild(el('p', { className: 'rps-monitor-note', text: t('view.updated', { time: time(f.at) }) }));
        }

        var view = {
            /** The runtime pushed new (unfiltered) figures. */
            pushed: function (f) {
                latestPushed = f;
                if (busy) {
                    return;
                }
                if (filtered()) {
                    load();
                } else {
                    figures = f;
                    render();
                }
            },
            refresh: load,
            render: render
        };

        loadCharts().then(function () {
            render();
        });
        options.request('GET', 'rps-monitor/messages').then(function (m) {
            texts = m || {};
            render();
            return load();
        }, function (err) {
            message = err.message;
            render();
        });
        return view;
    }

    window.RpsMonitorView = { create: create };
})(window);
