// The assemblies every script in this folder uses, from the Release build of the CLI (build first:
// dotnet build src/Mmg.Cli -c Release). Scripts `#load "references.fsx"`; to run them against
// another build (e.g. a copy that a rebuild will not overwrite), change the folder here only.
#r "../src/Mmg.Cli/bin/Release/net10.0/TorchSharp.dll"
#r "../src/Mmg.Cli/bin/Release/net10.0/Mmg.Core.dll"
