module.exports = require('../dist/src/nodes/rps-delta-load').default;
