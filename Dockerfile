# syntax=docker/dockerfile:1
# Build a static binary, ship it on distroless static as uid 65532.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/omsecrets ./cmd/omsecrets

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/omsecrets /usr/local/bin/omsecrets
ENV OMSECRETS_LOG_FORMAT=json
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/omsecrets"]
CMD ["help"]
