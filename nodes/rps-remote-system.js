module.exports = require('../dist/src/nodes/rps-remote-system').default;
