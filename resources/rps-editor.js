/**
 * Editor code shared by the nodes of @node-red-rps/remote-process-sync.
 *
 * Every node HTML that uses it loads it with
 *   <script src="resources/@node-red-rps/remote-process-sync/rps-editor.js"></script>
 * so the editor may run this file several times: it defines window.RpsEditor once
 * and adds the shared stylesheet (rps-editor.css, next to this file) once.
 */
(function (window) {
    'use strict';

    if (window.RpsEditor) {
        return;
    }

    var STYLESHEET_ID = 'rps-editor-stylesheet';
    var RESOURCE_PATH = 'resources/@node-red-rps/remote-process-sync/';

    /** Where this file was loaded from, to find rps-editor.css next to it. */
    var scriptUrl = document.currentScript && document.currentScript.src ? document.currentScript.src : '';

    function stylesheetUrl() {
        if (/\/rps-editor\.js(\?.*)?$/.test(scriptUrl)) {
            return scriptUrl.replace(/\/rps-editor\.js(\?.*)?$/, '/rps-editor.css');
        }
        var root = window.RED && RED.settings && RED.settings.apiRootUrl ? RED.settings.apiRootUrl : '';
        return root + RESOURCE_PATH + 'rps-editor.css';
    }

    /** The name of the config node `id`, or '' when it is not set, not found or has no name. */
    function configNodeName(id) {
        var node = id ? RED.nodes.node(id) : null;
        return node && node.name ? node.name : '';
    }

    var RpsEditor = {
        /**
         * The `defaults` entries of a node's number settings, from the runtime's own table
         * (e.g. RpsRules.STORE_NUMBERS, from resources/rps-rules.js): each with the
         * runtime's default and a validator that accepts what the runtime takes as it is
         * (RpsRules.numberAccepted), by property name.
         */
        numberSettings: function (table) {
            var entries = {};
            Object.keys(table).forEach(function (name) {
                var rule = table[name];
                entries[name] = {
                    value: rule.value,
                    validate: function (v) {
                        return window.RpsRules.numberAccepted(rule, v);
                    }
                };
            });
            return entries;
        },

        /**
         * Brings the open form of an old node to today's settings with the runtime's own
         * config migrations (RpsRules.migrate, from resources/rps-rules.js): a setting the
         * node lacks (its input is empty) shows what the runtime makes of it, and is saved
         * as such with Done.
         */
        migrateForm: function (node, type, form) {
            var inputs = {};
            var values = {};
            Object.keys(node._def.defaults).forEach(function (prop) {
                var input = form.find('#node-config-input-' + prop + ', #node-input-' + prop).first();
                if (input.length) {
                    inputs[prop] = input;
                    values[prop] = input.val();
                }
            });
            var migrated = window.RpsRules.migrate(type, $.extend({}, values));
            Object.keys(inputs).forEach(function (prop) {
                if (migrated[prop] !== values[prop] && migrated[prop] !== undefined) {
                    inputs[prop].val(String(migrated[prop]));
                }
            });
        },

        /**
         * Names the "no config node" choice of an optional config-node select (`select`,
         * as Node-RED builds it for a `defaults` entry with a `type`) `label`, e.g. "None
         * (default SQLite file)". Node-RED offers that choice as "Add new <type>..." while no
         * node of the type exists, and as "None" once one does; either saves '' (the
         * default), which only the first does not say. The "+" button still adds one.
         * Node-RED rebuilds the options after a config node is added, edited or deleted and
         * then triggers `change`: the choice is named again then.
         */
        noneOption: function (select, label) {
            function name() {
                select.find('option[value="_ADD_"]').text(label);
            }
            select.on('change', name);
            name();
        },

        /** A validator: the value is empty (the default) or one of `values`. */
        oneOf: function (values) {
            return function (v) {
                return v === undefined || v === null || v === '' || values.indexOf(v) >= 0;
            };
        },

        /** Whether `text` is an absolute http:// or https:// URL. */
        isHttpUrl: function (text) {
            try {
                var url = new URL(String(text).trim());
                return url.protocol === 'http:' || url.protocol === 'https:';
            } catch (e) {
                return false;
            }
        },

        /** A paletteLabel / outputLabels function: the node's translation of `key`. */
        text: function (key) {
            return function () {
                return this._(key);
            };
        },

        /**
         * A label function: the node's name, else the first of its properties `fields`
         * that is set, else the translation of `fallbackKey`.
         */
        nameLabel: function (fallbackKey, fields) {
            fields = fields || [];
            return function () {
                if (this.name) {
                    return this.name;
                }
                for (var i = 0; i < fields.length; i++) {
                    if (this[fields[i]]) {
                        return this[fields[i]];
                    }
                }
                return this._(fallbackKey);
            };
        },

        /**
         * A label function for a node that points at config nodes: the node's name, else
         * the translation of `key` with each argument of `refs` ({ argument: property })
         * set to the name of the config node that property refers to (e.g. "incident to
         * deskB"), else, when one of them has no name, the translation of `fallbackKey`.
         */
        configLabel: function (key, refs, fallbackKey) {
            return function () {
                if (this.name) {
                    return this.name;
                }
                var args = {};
                for (var arg in refs) {
                    if (Object.prototype.hasOwnProperty.call(refs, arg)) {
                        args[arg] = configNodeName(this[refs[arg]]);
                        if (!args[arg]) {
                            return this._(fallbackKey);
                        }
                    }
                }
                return this._(key, args);
            };
        },

        /** A labelStyle function: italic when the node has a name of its own. */
        labelStyle: function () {
            return this.name ? 'node_label_italic' : '';
        },

        /** Adds the shared stylesheet to the editor page, once. */
        addStylesheet: function () {
            if (document.getElementById(STYLESHEET_ID)) {
                return;
            }
            var link = document.createElement('link');
            link.id = STYLESHEET_ID;
            link.rel = 'stylesheet';
            link.type = 'text/css';
            link.href = stylesheetUrl();
            (document.head || document.getElementsByTagName('head')[0]).appendChild(link);
        }
    };

    window.RpsEditor = RpsEditor;
    RpsEditor.addStylesheet();
})(window);
