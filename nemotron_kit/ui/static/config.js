window.NK_MODE = "server";
